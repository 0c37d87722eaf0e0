// Preloaded into a process (`node --require`): when it exits, writes one line to stderr saying
// whether the process loaded node's own copy of undici, which Node 20 loads the first time
// anything reads the global `Headers`, `Response`, `Request` or `FormData` (about 3 MB more
// resident memory), so a test can tell that loading a built entry point reads none of them.
process.on('exit', () => {
  const loaded = process.moduleLoadList.includes('NativeModule internal/deps/undici/undici');
  process.stderr.write(`node's undici loaded: ${loaded}\n`);
});
