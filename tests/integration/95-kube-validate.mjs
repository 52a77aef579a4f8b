// SPDX-License-Identifier: Apache-2.0
// 95: validates Kubernetes objects against the API schemas of the npm package
// kubernetes-models (the OpenAPI schemas of the Kubernetes API, compiled) and,
// for ServiceMonitor, @kubernetes-models/prometheus-operator (the
// prometheus-operator CRD schemas). Usage: node 95-kube-validate.mjs FILE...
// (multi-document YAML). Prints one line per object, "ok KIND NAME" or
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

// apiVersion -> module of kubernetes-models (core v1 lives at "v1").
async function modelFor(apiVersion, kind) {
  let mod;
  if (apiVersion === "monitoring.coreos.com/v1") {
    mod = path.join("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", kind + ".js");
  } else {
    mod = path.join("kubernetes-models", apiVersion, kind + ".js");
  }
  try {
    const m = await load(mod);
    return m[kind];
  } catch (e) {
    return null;
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
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      console.log(`invalid ${id}: no schema for ${obj.apiVersion} ${obj.kind}`);
      bad++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`ok ${id}`);
    } catch (e) {
      console.log(`invalid ${id}: ${e.message}`);
      bad++;
    }
  }
}
console.log(`validated ${count} objects, ${bad} invalid`);
process.exit(bad === 0 && count > 0 ? 0 : 1);
