import { Batcher } from './batcher';

interface Op {
  key: string;
  value: number;
}

/** A batch runner that records its batches and answers when told to. */
function recorder(fail: (ops: Op[]) => boolean = () => false) {
  const batches: Op[][] = [];
  const waiting: Array<() => void> = [];
  let hold = false;
  const run = async (ops: Op[]): Promise<string[]> => {
    batches.push(ops);
    if (hold) await new Promise<void>((resolve) => waiting.push(resolve));
    if (fail(ops)) throw new Error(`batch of ${ops.length} failed`);
    return ops.map((op) => `${op.key}:${op.value}`);
  };
  return {
    batches,
    run,
    hold: () => {
      hold = true;
    },
    release: () => {
      hold = false;
      waiting.splice(0).forEach((resolve) => resolve());
    },
  };
}

const op = (key: string, value = 0): Op => ({ key, value });
const options = { keyOf: (o: Op) => o.key, maxInFlight: 1, maxBatch: 10 };

describe('Batcher', () => {
  it('sends an operation alone at once and resolves it with its result', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, options);

    await expect(batcher.run(op('a', 1))).resolves.toBe('a:1');
    expect(runner.batches).toEqual([[op('a', 1)]]);
  });

  it('sends operations queued in the same tick as one batch, results in order', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, options);

    const results = await Promise.all([
      batcher.run(op('a')),
      batcher.run(op('b')),
      batcher.run(op('c')),
    ]);

    expect(results).toEqual(['a:0', 'b:0', 'c:0']);
    expect(runner.batches).toEqual([[op('a'), op('b'), op('c')]]);
  });

  it('collects what arrives while a batch runs into the next one', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, options);
    runner.hold();
    const first = batcher.run(op('a'));
    await Promise.resolve();
    const later = [batcher.run(op('b')), batcher.run(op('c'))];
    await new Promise((resolve) => setImmediate(resolve));
    expect(runner.batches).toEqual([[op('a')]]);

    runner.release();
    await expect(Promise.all([first, ...later])).resolves.toEqual(['a:0', 'b:0', 'c:0']);
    expect(runner.batches).toEqual([[op('a')], [op('b'), op('c')]]);
  });

  it('runs up to maxInFlight batches at once', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, { ...options, maxInFlight: 2 });
    runner.hold();
    const a = batcher.run(op('a'));
    await Promise.resolve();
    const b = batcher.run(op('b'));
    await Promise.resolve();
    const c = batcher.run(op('c'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(runner.batches).toEqual([[op('a')], [op('b')]]);

    runner.release();
    await Promise.all([a, b, c]);
    expect(runner.batches).toEqual([[op('a')], [op('b')], [op('c')]]);
  });

  it('never puts two operations with one key in a batch, and keeps their order', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, options);

    await Promise.all([
      batcher.run(op('a', 1)),
      batcher.run(op('b', 1)),
      batcher.run(op('a', 2)),
      batcher.run(op('a', 3)),
      batcher.run(op('c', 1)),
    ]);

    expect(runner.batches).toEqual([
      [op('a', 1), op('b', 1), op('c', 1)],
      [op('a', 2)],
      [op('a', 3)],
    ]);
  });

  it('caps a batch at maxBatch operations', async () => {
    const runner = recorder();
    const batcher = new Batcher(runner.run, { ...options, maxBatch: 2 });

    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((key) => batcher.run(op(key))));

    expect(runner.batches.map((batch) => batch.map((o) => o.key))).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
  });

  it('runs each operation of a failed batch alone, so each gets its own outcome', async () => {
    const runner = recorder((ops) => ops.length > 1 || ops[0].key === 'bad');
    const batcher = new Batcher(runner.run, options);

    const outcomes = await Promise.allSettled([
      batcher.run(op('a')),
      batcher.run(op('bad')),
      batcher.run(op('c')),
    ]);

    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 'a:0' },
      { status: 'rejected', reason: new Error('batch of 1 failed') },
      { status: 'fulfilled', value: 'c:0' },
    ]);
    expect(runner.batches).toEqual([
      [op('a'), op('bad'), op('c')],
      [op('a')],
      [op('bad')],
      [op('c')],
    ]);
  });
});
