import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { constants } from 'node:perf_hooks';
import { repoRoot } from './support/processes';

// The start-up collection (libs/config/src/memory-profile.ts, collectStartupGarbage), each
// check in a node process of its own: what a collection does depends on the whole heap, and a
// test runner's heap is large and full of other tests' garbage, unlike a process that has just
// started.

const PROFILE = path.join(repoRoot, 'dist', 'libs', 'config', 'src', 'memory-profile.js');

/**
 * Runs `body` in a new node process, with `collectStartupGarbage` and `slackAfterFragmenting`
 * in scope, and returns what it printed as JSON.
 */
function inFreshProcess<T>(body: string): T {
  const source = `
    const { getHeapSpaceStatistics } = require('node:v8');
    const { runInNewContext } = require('node:vm');
    const { collectStartupGarbage } = require(${JSON.stringify(PROFILE)});
    // About 24 MB of small objects, moved to the old generation by a first collection; then
    // all but every twentieth is dropped, so each page keeps a few survivors. Sweeping frees
    // the space between them but keeps the pages; compacting moves the survivors together.
    // Returns the old generation's committed MB beyond what it uses, after \`collect\`.
    function slackAfterFragmenting(collect) {
      const chunks = Array.from({ length: 60 }, () =>
        Array.from({ length: 10000 }, (_, index) => ({ index, text: 'object ' + index })),
      );
      collectStartupGarbage();
      for (const chunk of chunks)
        for (let index = 0; index < chunk.length; index++) if (index % 20) chunk[index] = null;
      collect();
      if (chunks.length !== 60) throw new Error('the chunks went');
      const space = getHeapSpaceStatistics().find((each) => each.space_name === 'old_space');
      return (space.space_size - space.space_used_size) / 2 ** 20;
    }
    (async () => { ${body} })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const run = spawnSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`the probe failed (${run.status}):\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe('collectStartupGarbage', () => {
  it('runs a full collection', () => {
    const kinds = inFreshProcess<number[]>(`
      const { PerformanceObserver } = require('node:perf_hooks');
      const kinds = [];
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) kinds.push(entry.detail.kind);
      });
      observer.observe({ entryTypes: ['gc'] });
      collectStartupGarbage();
      // Collections are reported to observers after the fact, in a later turn.
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      console.log(JSON.stringify(kinds));
    `);
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it('compacts the old generation: pages left part-filled are emptied and given back', () => {
    const slack = inFreshProcess<number>(
      'console.log(JSON.stringify(slackAfterFragmenting(collectStartupGarbage)));',
    );
    expect(slack).toBeLessThan(4);
  });

  it('compacts in that collection only: the next full collection is as V8 chooses', () => {
    const slack = inFreshProcess<number>(`
      collectStartupGarbage();
      const fullCollection = runInNewContext('gc');
      console.log(JSON.stringify(slackAfterFragmenting(fullCollection)));
    `);
    expect(slack).toBeGreaterThan(10);
  });
});
