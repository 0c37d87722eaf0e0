import { readFileSync } from 'node:fs';
import path from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { collectStartupGarbage, MEMORY_ENV, NODE_MEMORY_ARGS } from './memory-profile';

// The settings that must be in place before Node starts live in three places besides the
// constants: the npm scripts, the Dockerfile and the bench (which imports the constants).

const root = path.resolve(__dirname, '..', '..', '..');
const env = Object.entries(MEMORY_ENV).map(([name, value]) => `${name}=${value}`);

describe('the memory profile', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it.each(['dev', 'start', 'start:api', 'start:worker'])(
    'npm run %s starts node with it',
    (name) => {
      const command = scripts[name];
      for (const setting of [...env, ...NODE_MEMORY_ARGS]) expect(command).toContain(setting);
    },
  );

  it('the Dockerfile sets it for every command', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV NODE_OPTIONS=${NODE_MEMORY_ARGS.join(' ')}`);
    for (const setting of env) expect(dockerfile).toContain(setting);
  });
});

describe('collectStartupGarbage', () => {
  it('runs a full collection', async () => {
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as (PerformanceEntry & { detail: { kind: number } })[])
        kinds.push(entry.detail.kind);
    });
    observer.observe({ entryTypes: ['gc'] });
    try {
      collectStartupGarbage();
      // Collections are reported to observers after the fact, in a later turn.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      observer.disconnect();
    }
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });
});
