#!/usr/bin/env node
// Native-solc-compatible front end for solc-js, so that py-solc-x and ape-solidity can use npm's `solc` offline.
// Supports what they call: --version, --standard-json (input on stdin, optional trailing "-"), --base-path,
// --include-path (repeatable), --allow-paths a,b and remapping arguments prefix=path. stdout is only the JSON output.
"use strict";
const fs = require("fs");
const path = require("path");

const nodeModules = process.env.COLLAB_NODE_MODULES;
if (!nodeModules) {
  process.stderr.write("COLLAB_NODE_MODULES is not set: run `python -m collab_py.toolchain` to register solc\n");
  process.exit(2);
}
const solc = require(path.join(nodeModules, "solc"));

function parseArgs(argv) {
  const options = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [], remappings: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`option '${arg}' requires a value`);
      return argv[++i];
    };
    if (arg === "--version") options.version = true;
    else if (arg === "--standard-json") options.standardJson = true;
    else if (arg === "--base-path") options.basePath = value();
    else if (arg === "--include-path") options.includePaths.push(value());
    else if (arg === "--allow-paths") options.allowPaths.push(...value().split(",").filter(Boolean));
    else if (arg === "-") continue;
    else if (!arg.startsWith("-") && arg.includes("=")) options.remappings.push(arg);
    else fail(`unrecognised option '${arg}'`);
  }
  return options;
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function importCallback(options) {
  const roots = [options.basePath || process.cwd(), ...options.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...options.allowPaths.map((p) => path.resolve(p))];
  const isAllowed = (file) => allowed.some((dir) => file === dir || file.startsWith(dir + path.sep));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      const file = path.resolve(candidate);
      if (!fs.existsSync(file)) continue;
      if (!isAllowed(file)) return { error: `${importPath}: outside the allowed paths` };
      return { contents: fs.readFileSync(file, "utf8") };
    }
    return { error: `${importPath}: file not found` };
  };
}

const options = parseArgs(process.argv.slice(2));
if (options.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!options.standardJson) fail("only --standard-json and --version are supported by this solc-js front end");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  if (options.remappings.length) {
    const parsed = JSON.parse(input);
    parsed.settings = parsed.settings || {};
    parsed.settings.remappings = [...(parsed.settings.remappings || []), ...options.remappings];
    input = JSON.stringify(parsed);
  }
  process.stdout.write(solc.compile(input, { import: importCallback(options) }));
});
