#!/usr/bin/env node
// solc made of solcjs (the `solc` npm package), for machines where py-solc-x cannot download
// the native binary. It speaks the part of solc's command line that py-solc-x and ape-solidity
// use: `--version` (the same two lines as native solc) and `--standard-json` (input on stdin,
// output on stdout, imports read from --base-path and --include-path). tools/install_solc.py
// installs it as <py-solc-x folder>/solc-v<version>, with the package beside it in
// solcjs-v<version>/; run from this repository it uses the package in node_modules.
'use strict';

const fs = require('fs');
const path = require('path');

const installedPackage = path.join(__dirname, path.basename(__filename).replace(/^solc-/, 'solcjs-'), 'node_modules', 'solc');
const solc = require(fs.existsSync(installedPackage) ? installedPackage : 'solc');

// Options that take a value, as native solc names them; py-solc-x passes them as `--flag value`.
const PATH_OPTIONS = new Set(['--base-path', '--include-path', '--allow-paths']);

function fail(message) {
  process.stderr.write(message + '\n');
  process.exit(1);
}

function parseArguments(argv) {
  const options = { version: false, standardJson: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === '--version') options.version = true;
    else if (argument === '--standard-json') options.standardJson = true;
    else if (argument === '-') continue; // stdin, which --standard-json reads anyway
    else if (PATH_OPTIONS.has(argument)) {
      const value = argv[++i];
      if (value === undefined) fail(`Invalid option to ${argument}: a path is needed`);
      if (argument === '--base-path') options.basePath = value;
      else if (argument === '--include-path') options.includePaths.push(value);
      // --allow-paths only widens what native solc may read; imports here come from the
      // base and include paths alone.
    } else {
      // py-solc-x turns this message into UnknownOption.
      fail(`unrecognised option '${argument}' (this solcjs wrapper supports --version and --standard-json)`);
    }
  }
  return options;
}

function importReader(options) {
  const roots = [options.basePath || '.', ...options.includePaths];
  return (importPath) => {
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: `File not found inside the base path or any of the include paths: ${importPath}` };
  };
}

const options = parseArguments(process.argv.slice(2));
if (options.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (options.standardJson) {
  const input = fs.readFileSync(process.stdin.fd, 'utf8');
  process.stdout.write(solc.compile(input, { import: importReader(options) }) + '\n');
} else {
  fail('No input mode given: use --version or --standard-json');
}
