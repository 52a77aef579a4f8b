// SPDX-License-Identifier: Apache-2.0
// 95: renders a Helm chart's templates like `helm template RELEASE CHART`
// for the small subset of Go templates the fedbroker chart keeps to (there
// is no helm binary in Debian, and no npm package renders Helm charts
// faithfully). Supported, with Go template semantics:
//   {{ PIPELINE }}, {{- ... -}} (whitespace trimming), {{/* comment */}},
//   {{ if PIPELINE }} ... [{{ else }} ...] {{ end }},
//   operands .Values.a.b, .Release.Name, .Release.Namespace, .Chart.Name,
//   .Chart.Version, .Chart.AppVersion, "string", integers,
//   functions toYaml X, and X | quote, | nindent N, | indent N, | sha256sum.
// Anything else, and a .Values path that values.yaml lacks, is an error
// (exit 1), so a template that outgrows the subset cannot pass unnoticed.
// Usage: node 95-helm-render.mjs CHART_DIR [RELEASE] > rendered.yaml
import { readFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const YAML = await import(path.join(here, "..", "peers", "node_modules", "yaml", "dist", "index.js"));

const chartDir = process.argv[2];
const release = process.argv[3] || "fedbroker";
const chart = YAML.parse(readFileSync(path.join(chartDir, "Chart.yaml"), "utf8"));
const values = YAML.parse(readFileSync(path.join(chartDir, "values.yaml"), "utf8"));
const top = {
  Values: values,
  Release: { Name: release, Namespace: "default", Service: "Helm" },
  Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
};

function fail(where, msg) {
  throw new Error(`${where}: ${msg}`);
}

function lookup(where, ref) {
  const parts = ref.slice(1).split(".");
  let v = top;
  for (const p of parts) {
    if (v === null || typeof v !== "object" || !(p in v)) fail(where, `no value ${ref}`);
    v = v[p];
  }
  return v;
}

function truthy(v) {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function toYaml(v) {
  return YAML.stringify(v).replace(/\n$/, "");
}

function indent(n, s) {
  const pad = " ".repeat(n);
  return s.split("\n").map((l) => pad + l).join("\n");
}

function operand(where, tok) {
  if (/^\.[A-Za-z][\w.]*$/.test(tok)) return lookup(where, tok);
  if (/^"([^"\\]|\\.)*"$/.test(tok)) return JSON.parse(tok);
  if (/^-?\d+$/.test(tok)) return parseInt(tok, 10);
  fail(where, `unsupported operand '${tok}'`);
}

function show(where, v) {
  if (v === null || typeof v === "object") fail(where, "a map or list printed without toYaml");
  return String(v);
}

function pipeline(where, text) {
  const stages = text.split("|").map((s) => s.trim().split(/\s+/));
  let v;
  const first = stages[0];
  if (first[0] === "toYaml" && first.length === 2) v = toYaml(operand(where, first[1]));
  else if (first.length === 1) v = operand(where, first[0]);
  else fail(where, `unsupported expression '${stages[0].join(" ")}'`);
  for (const st of stages.slice(1)) {
    const [fn, ...args] = st;
    if (fn === "quote" && args.length === 0) v = JSON.stringify(show(where, v));
    else if (fn === "nindent" && args.length === 1) v = "\n" + indent(operand(where, args[0]), show(where, v));
    else if (fn === "indent" && args.length === 1) v = indent(operand(where, args[0]), show(where, v));
    else if (fn === "sha256sum" && args.length === 0) v = createHash("sha256").update(show(where, v)).digest("hex");
    else if (fn === "toYaml" && args.length === 0) v = toYaml(v);
    else fail(where, `unsupported function '${st.join(" ")}'`);
  }
  return v;
}

function render(name, src) {
  // Split into text and actions, applying the trim markers.
  const parts = [];
  const re = /\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}/g;
  let last = 0;
  let m;
  let trimNext = false;
  while ((m = re.exec(src)) !== null) {
    let text = src.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, "");
    if (m[1] === "-") text = text.replace(/\s+$/, "");
    parts.push({ text });
    const line = src.slice(0, m.index).split("\n").length;
    parts.push({ action: m[2], where: `${name}:${line}` });
    trimNext = m[3] === "-";
    last = re.lastIndex;
  }
  let tail = src.slice(last);
  if (trimNext) tail = tail.replace(/^\s+/, "");
  parts.push({ text: tail });

  // Evaluate with a stack of if blocks.
  let out = "";
  const stack = []; // { active, taken }
  const active = () => stack.every((s) => s.active);
  for (const p of parts) {
    if ("text" in p) {
      if (active()) out += p.text;
      continue;
    }
    const a = p.action;
    if (/^\/\*[\s\S]*\*\/$/.test(a)) continue;
    if (a.startsWith("if ")) {
      const cond = active() ? truthy(pipeline(p.where, a.slice(3))) : false;
      stack.push({ active: cond, taken: cond });
    } else if (a === "else") {
      if (!stack.length) fail(p.where, "else without if");
      const s = stack[stack.length - 1];
      s.active = !s.taken;
      s.taken = true;
    } else if (a === "end") {
      if (!stack.length) fail(p.where, "end without if");
      stack.pop();
    } else if (/^(range|with|define|template|include|block|tpl)\b/.test(a) || a.includes(":=")) {
      fail(p.where, `unsupported action '${a}'`);
    } else if (active()) {
      out += show(p.where, pipeline(p.where, a));
    }
  }
  if (stack.length) fail(name, "if without end");
  return out;
}

try {
  const tdir = path.join(chartDir, "templates");
  let out = "";
  for (const f of readdirSync(tdir).sort()) {
    if (f === "NOTES.txt") {
      // Shown by helm install, not applied: rendered for its errors only.
      render(`templates/${f}`, readFileSync(path.join(tdir, f), "utf8"));
      continue;
    }
    if (!/\.ya?ml$/.test(f)) continue;
    const body = render(`templates/${f}`, readFileSync(path.join(tdir, f), "utf8"));
    out += `---\n# Source: ${chart.name}/templates/${f}\n${body.replace(/\n*$/, "\n")}`;
  }
  process.stdout.write(out);
} catch (e) {
  console.error(`helm-render: ${e.message}`);
  process.exit(1);
}
