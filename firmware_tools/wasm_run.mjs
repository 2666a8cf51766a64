// Run a MicroPython script on the webassembly MicroPython (real MicroPython 1.29 with
// ulab, 32-bit) under Node.js, as the unix port would run it:
//
//   node wasm_run.mjs WASM [--heap BYTES] [--with DIR]... SCRIPT.py ARGS...
//
// WASM: micropython-ulab.wasm (or micropython.wasm) of the npm package
// @micropython/micropython-webassembly-pyscript, its micropython.mjs beside it. The
// interpreter's files live in memory: the script's folder, each --with folder (the
// device code the script imports, say) and every argument that names
// an existing file or folder are copied in at the same paths; after the run, every
// argument with a "/" that names a file the script wrote is copied back out. Exit status: 0, the
// code of a SystemExit, or 1 after a traceback on stderr.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const argv = process.argv.slice(2);
const wasm = path.resolve(argv.shift());
let heap = 1024 * 1024;
const extra = [];
while (argv[0] === "--heap" || argv[0] === "--with") {
  const opt = argv.shift();
  if (opt === "--heap") heap = parseInt(argv.shift(), 10);
  else extra.push(path.resolve(argv.shift()));
}
const script = path.resolve(argv[0]);
const { loadMicroPython } = await import(pathToFileURL(path.join(path.dirname(wasm), "micropython.mjs")).href);
const mp = await loadMicroPython({
  url: wasm, heapsize: heap, linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyIn(host) {
  const st = fs.statSync(host);
  if (st.isDirectory()) {
    mp.FS.mkdirTree(host);
    for (const name of fs.readdirSync(host)) {
      if (name !== "__pycache__" && !name.startsWith(".")) copyIn(path.join(host, name));
    }
  } else if (st.isFile()) {
    mp.FS.mkdirTree(path.dirname(host));
    mp.FS.writeFile(host, fs.readFileSync(host));
  }
}

// a path: an argument naming something that exists, or with a "/" (an output to be)
const isPath = (a) => !a.startsWith("-") && (a.includes("/") || fs.existsSync(a));
const given = argv.slice(1).map((a) => (isPath(a) ? path.resolve(a) : null));
copyIn(path.dirname(script));
for (const d of extra) copyIn(d);
for (const p of given) {
  if (p && fs.existsSync(p)) copyIn(p);
  else if (p && fs.existsSync(path.dirname(p))) mp.FS.mkdirTree(path.dirname(p));  // an output's folder
}

const args = [script].concat(argv.slice(1).map((a, i) => (given[i] ? given[i] : a)));
let status = 0;
try {
  mp.runPython([
    "import sys",
    "sys.argv[:] = " + JSON.stringify(args),
    "sys.path.insert(0, " + JSON.stringify(path.dirname(script)) + ")",
    "exec(open(" + JSON.stringify(script) + ").read(), {'__name__': '__main__'})",
  ].join("\n"));
} catch (e) {
  if (e.name !== "PythonError") throw e;
  if (e.type === "SystemExit") {
    const code = parseInt(String(e.message).trim().split("\n").pop(), 10);
    status = Number.isNaN(code) ? 0 : code;
  } else {
    process.stderr.write(String(e.message) + "\n");
    status = 1;
  }
}
for (const p of given) {  // the files the script wrote
  if (!p) continue;
  let data;
  try {
    if (!mp.FS.isFile(mp.FS.stat(p).mode)) continue;
    data = mp.FS.readFile(p);
  } catch {
    continue;
  }
  if (!fs.existsSync(p) || !Buffer.from(data).equals(fs.readFileSync(p))) fs.writeFileSync(p, data);
}
process.exit(status);
