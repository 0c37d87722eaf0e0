import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import path from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import {
  collectStartupGarbage,
  MEMORY_ENV,
  NODE_MEMORY_ARGS,
  STEPS_NODE_MEMORY_ARGS,
} from './memory-profile';

// The settings that must be in place before Node starts live in four places besides the
// constants: the npm scripts, the Dockerfile, docker-compose.yml and the bench (which imports
// the constants).

const root = path.resolve(__dirname, '..', '..', '..');
const env = Object.entries(MEMORY_ENV).map(([name, value]) => `${name}=${value}`);

describe('the memory profile', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it.each([
    ['start:api', NODE_MEMORY_ARGS],
    ['start:worker', STEPS_NODE_MEMORY_ARGS],
    ['start', STEPS_NODE_MEMORY_ARGS],
    ['dev', STEPS_NODE_MEMORY_ARGS],
  ])('npm run %s starts node with it', (name, args) => {
    const command = scripts[name];
    for (const setting of [...env, ...args]) expect(command).toContain(setting);
  });

  it("the Dockerfile sets the API's for every command, and compose the worker's", () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV NODE_OPTIONS=${NODE_MEMORY_ARGS.join(' ')}`);
    for (const setting of env) expect(dockerfile).toContain(setting);
    const compose = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(
      `command: ['node', ${STEPS_NODE_MEMORY_ARGS.map((arg) => `'${arg}'`).join(', ')}, 'dist/apps/worker/main.js']`,
    );
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

  // About 24 MB of small objects, moved to the old generation by a first collection; then
  // all but every twentieth is dropped, so each page keeps a few survivors. Sweeping frees the
  // space between them but keeps the pages; compacting moves the survivors together. Returns
  // the old generation's committed MB beyond what it uses, after `collect`.
  function slackAfterFragmenting(collect: () => void): number {
    const chunks = Array.from({ length: 60 }, () =>
      Array.from({ length: 10_000 }, (_, index) => ({ index, text: `object ${index}` })),
    );
    collectStartupGarbage();
    for (const chunk of chunks)
      for (let index = 0; index < chunk.length; index++) if (index % 20) chunk[index] = null!;
    collect();
    expect(chunks).toHaveLength(60);
    const space = getHeapSpaceStatistics().find((each) => each.space_name === 'old_space')!;
    return (space.space_size - space.space_used_size) / 2 ** 20;
  }

  it('compacts the old generation: pages left part-filled are emptied and given back', () => {
    expect(slackAfterFragmenting(collectStartupGarbage)).toBeLessThan(4);
  });

  it('compacts in that collection only: the next full collection is as V8 chooses', () => {
    collectStartupGarbage();
    const fullCollection = runInNewContext('gc') as () => void;
    expect(slackAfterFragmenting(fullCollection)).toBeGreaterThan(10);
  });
});
