// SPDX-License-Identifier: Apache-2.0
// 95: validates Kubernetes objects against the API schemas of the npm package
// kubernetes-models (the OpenAPI schemas of the Kubernetes API, compiled) and,
// for ServiceMonitor, @kubernetes-models/prometheus-operator (the
// prometheus-operator CRD schemas). Usage: node 95-kube-validate.mjs FILE...
// (multi-document YAML). The compiled schemas do not refuse unknown fields
// (a misspelled optional field would pass, as it does with kubectl's client
// validation but not with the API server's strict field validation), so the
// field names are also checked against the models' TypeScript declarations,
// which list every property; inline object types and maps there are not
// descended into. Prints one line per object, "ok KIND NAME" or
// "invalid KIND NAME: why"; an object of a kind it has no schema for is an
// error. Exit 0 only when every object is valid. Run by 95-deploy.py.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const peers = path.join(here, "..", "peers", "node_modules");
const req = createRequire(path.join(peers, "x.js"));
const load = async (name) => import(path.join(peers, name));

const YAML = await load("yaml/dist/index.js");
import { existsSync } from "node:fs";

// The properties of the model a .d.ts file declares: { name: typeText }.
const ifaceCache = new Map();
function iface(dts) {
  if (ifaceCache.has(dts)) return ifaceCache.get(dts);
  const text = readFileSync(dts, "utf8");
  const imports = {};
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) imports[m[1]] = m[2];
  // The model class lists every property, those of the interfaces it extends too.
  const body = /^export declare class \w+ extends [^{\n]*\{\n([\s\S]*?)^\}/m.exec(text);
  let props = null;
  if (body) {
    props = {};
    for (const m of body[1].matchAll(/^    "([^"]+)"\??: (.*)$/gm)) props[m[1]] = m[2];
  }
  const r = { props, imports, dir: path.dirname(dts) };
  ifaceCache.set(dts, r);
  return r;
}

function dtsOf(spec, fromDir) {
  const f = spec.startsWith(".") ? path.join(fromDir, spec) : path.join(peers, spec);
  const d = f.replace(/\.js$/, "") + ".d.ts";
  return existsSync(d) ? d : null;
}

// Unknown fields of obj against the interface of dts, as "path: name" strings.
function unknown(obj, dts, at, out) {
  const { props, imports, dir } = iface(dts);
  if (!props || obj === null || typeof obj !== "object" || Array.isArray(obj)) return;
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in props)) {
      out.push(`${at}/${k}: unknown field`);
      continue;
    }
    const t = props[k].replace(/;$/, "");
    const one = /^(\w+)$/.exec(t);
    const arr = /^Array<(\w+)>$/.exec(t);
    const name = (one || arr || [])[1];
    if (!name || !(name in imports)) continue;
    const sub = dtsOf(imports[name], dir);
    if (!sub) continue;
    if (arr && Array.isArray(v)) v.forEach((x, i) => unknown(x, sub, `${at}/${k}/${i}`, out));
    else if (one) unknown(v, sub, `${at}/${k}`, out);
  }
}


// apiVersion -> module of kubernetes-models (core v1 lives at "v1").
async function modelFor(apiVersion, kind) {
  let mod;
  return (await modelFile(apiVersion, kind)).model;
}

async function modelFile(apiVersion, kind) {
  let mod;
  if (apiVersion === "monitoring.coreos.com/v1") {
    mod = path.join("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", kind + ".js");
  } else {
    mod = path.join("kubernetes-models", apiVersion, kind + ".js");
  }
  try {
    const m = await load(mod);
    return { model: m[kind], dts: path.join(peers, mod.replace(/\.js$/, ".d.ts")) };
  } catch (e) {
    return { model: null };
  }
}

let bad = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
  const docs = YAML.parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.log(`invalid ${file}: YAML: ${doc.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    count++;
    const id = `${obj.kind} ${obj.metadata && obj.metadata.name} (${path.basename(file)})`;
    const { model: Model, dts } = await modelFile(obj.apiVersion, obj.kind);
    if (!Model) {
      console.log(`invalid ${id}: no schema for ${obj.apiVersion} ${obj.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(obj).validate();
      const extra = [];
      unknown(obj, dts, "data", extra);
      if (extra.length) {
        console.log(`invalid ${id}: ${extra.join(", ")}`);
        bad++;
        continue;
      }
      console.log(`ok ${id}`);
    } catch (e) {
      console.log(`invalid ${id}: ${e.message}`);
      bad++;
    }
  }
}
console.log(`validated ${count} objects, ${bad} invalid`);
process.exit(bad === 0 && count > 0 ? 0 : 1);
