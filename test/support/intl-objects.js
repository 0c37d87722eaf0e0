// Preloaded into a process (`node --require`): counts the Intl objects the process builds
// (each kind of formatter loads ICU data from node's binary the first time) and, when it exits,
// writes one line to stderr with the count by kind, so a test can tell that loading a built
// entry point builds none.
const built = {};
for (const name of Object.getOwnPropertyNames(Intl)) {
  const Kind = Intl[name];
  if (typeof Kind !== 'function') continue;
  const count = () => (built[name] = (built[name] ?? 0) + 1);
  Intl[name] = new Proxy(Kind, {
    construct: (target, args, newTarget) => (count(), Reflect.construct(target, args, newTarget)),
    apply: (target, self, args) => (count(), Reflect.apply(target, self, args)),
  });
}
process.on('exit', () => {
  process.stderr.write(`intl objects: ${JSON.stringify(built)}\n`);
});
