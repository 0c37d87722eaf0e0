// Preloaded into a process (`node --require`): when it exits, writes one line to stderr
// listing every file that require() resolved inside node_modules, so a test can tell which
// packages a built entry point loads from node_modules rather than from its bundle.
const Module = require('node:module');
const path = require('node:path');

const NODE_MODULES = `${path.sep}node_modules${path.sep}`;
const resolved = new Set();
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  if (file.includes(NODE_MODULES)) resolved.add(file);
  return file;
};
process.on('exit', () => {
  process.stderr.write(`resolved modules: ${JSON.stringify([...resolved])}\n`);
});
