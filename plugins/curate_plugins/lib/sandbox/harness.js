// Runs one JavaScript program and its tests inside the sandbox (node, exec'd by the zygote's limited child).
// Same protocol as _harness.py: JSON lines on file descriptor 3 ("code", "start", "test", "done" events).
// The code, the setup and each test run as scripts in one V8 context, in order (top-level declarations are
// shared, like lines of one program). A test is statements (`assert.strictEqual(f(1), 2)`) or registers cases
// with `test(name, fn)` / `it(name, fn)` (sync or async), each reported as its own test.
"use strict";
const fs = require("fs");
const vm = require("vm");
const assert = require("assert");

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const emit = (event) => fs.writeSync(3, JSON.stringify(event) + "\n");

function label(source) {
  const line = source.split("\n").map((l) => l.trim()).find((l) => l.length) || "<empty test>";
  return line.length <= 160 ? line : line.slice(0, 157) + "...";
}

function statusOf(error) {
  if (error === undefined) return "pass";
  if (error instanceof RangeError && /memory|allocation/i.test(String(error.message))) return "memory";
  if (error && (error.code === "ERR_ASSERTION" || error.name === "AssertionError")) return "fail";
  return "error";
}

function message(error) {
  if (error === undefined) return "";
  const text = error && error.stack ? String(error.stack) : String(error);
  const ours = (line) => line.includes(__filename) || /\((node:vm|node:internal)|at (node:internal|new Script)/.test(line);
  return text.split("\n").filter((line) => !ours(line)).join("\n").slice(0, 2000);
}

let registered = [];
globalThis.require = require;
globalThis.assert = assert;
globalThis.module = { exports: {} };
globalThis.exports = globalThis.module.exports;
globalThis.test = globalThis.it = (name, fn) => registered.push([String(name), fn]);
globalThis.describe = (name, fn) => fn();

function run(source, filename) {
  vm.runInThisContext(source, { filename });
}

async function timed(index, name, call) {
  emit({ e: "start", i: index, name });
  const start = process.hrtime.bigint();
  let error;
  try {
    await call();
  } catch (caught) {
    error = caught === undefined ? new Error("undefined thrown") : caught;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  emit({ e: "test", i: index, name, status: statusOf(error), seconds, message: message(error) });
}

async function main() {
  try {
    run(job.code, "solution.js");
    if (job.setup) run(job.setup, "setup.js");
  } catch (error) {
    const status = statusOf(error);
    emit({ e: "code", status: status === "memory" ? "memory" : "error", message: message(error) });
    emit({ e: "done" });
    return;
  }
  emit({ e: "code", status: "ok", message: "" });
  for (const [index, source] of job.tests.entries()) {
    registered = [];
    const name = label(source);
    emit({ e: "start", i: index, name });
    const start = process.hrtime.bigint();
    let error;
    try {
      run(source, `test_${index}.js`);
    } catch (caught) {
      error = caught === undefined ? new Error("undefined thrown") : caught;
    }
    if (error !== undefined || registered.length === 0) {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      emit({ e: "test", i: index, name, status: statusOf(error), seconds, message: message(error) });
      continue;
    }
    for (const [caseName, fn] of registered) await timed(index, caseName, fn);
  }
  emit({ e: "done" });
}

main().then(() => process.exit(0), (error) => {
  process.stderr.write(String(error && error.stack) + "\n");
  process.exit(70);
});
