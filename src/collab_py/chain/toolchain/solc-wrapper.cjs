#!/usr/bin/env node
// Native-solc-compatible front end for solc-js, so that py-solc-x and ape-solidity can use npm's `solc` offline.
// Supports what they call: --version, --standard-json (input on stdin, optional trailing "-"), --base-path,
// --include-path (repeatable), --allow-paths a,b and remapping arguments prefix=path. stdout is only the JSON output.
// Imports are read like native solc does: relative to the base path, then each include path, then as given; only
// files inside the base, include and allowed paths are read. COLLAB_NODE_MODULES locates npm's `solc`.
"use strict";
const fs = require("fs");
const path = require("path");

function fail(message, code = 1) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function loadSolc() {
  const nodeModules = process.env.COLLAB_NODE_MODULES;
  if (!nodeModules) fail("COLLAB_NODE_MODULES is not set: run `python -m collab_py.chain.toolchain` to register solc", 2);
  try {
    return require(path.join(nodeModules, "solc"));
  } catch (error) {
    return fail(`cannot load solc from ${nodeModules} (${error.message}): run \`npm ci\``, 2);
  }
}

function parseArgs(argv) {
  const options = { version: false, standardJson: false, basePath: "", includePaths: [], allowPaths: [], remappings: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`the required argument for option '${arg}' is missing`);
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

function importCallback(options) {
  const roots = [options.basePath || process.cwd(), ...options.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...options.allowPaths.map((p) => path.resolve(p))];
  const isAllowed = (file) => allowed.some((dir) => file === dir || file.startsWith(dir + path.sep));
  return (sourceUnitName) => {
    const candidates = roots.map((root) => path.join(root, sourceUnitName));
    if (path.isAbsolute(sourceUnitName)) candidates.push(sourceUnitName);
    const found = candidates.map((candidate) => path.resolve(candidate)).find((file) => fs.existsSync(file));
    if (found === undefined) {
      return { error: `File not found. Searched the following locations: ${roots.map((r) => `"${r}"`).join(", ")}.` };
    }
    if (!isAllowed(found)) {
      return { error: `File outside of allowed directories. The following are allowed: ${allowed.join(", ")}.` };
    }
    return { contents: fs.readFileSync(found, "utf8") };
  };
}

function withRemappings(input, remappings) {
  if (!remappings.length) return input;
  let parsed;
  try {
    parsed = JSON.parse(input);
  } catch {
    return input; // solc reports the malformed input in its JSON output
  }
  parsed.settings = parsed.settings || {};
  parsed.settings.remappings = [...(parsed.settings.remappings || []), ...remappings];
  return JSON.stringify(parsed);
}

const options = parseArgs(process.argv.slice(2));
if (!options.version && !options.standardJson) {
  fail("this solc-js front end supports only --version and --standard-json");
}
const solc = loadSolc();
if (options.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(withRemappings(input, options.remappings), { import: importCallback(options) }));
});
