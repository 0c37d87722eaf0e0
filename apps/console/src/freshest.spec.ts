import { freshestReads } from './freshest';

/** A read whose end the test decides. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(e: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('freshestReads', () => {
  it('drops an older read that ends after a newer one was applied', async () => {
    const shown: string[] = [];
    const read = freshestReads<string>(
      (value) => shown.push(value),
      () => shown.push('error'),
    );
    const older = deferred<string>();
    const newer = deferred<string>();
    read(older.promise);
    read(newer.promise);
    newer.resolve('draining');
    await settled();
    older.resolve('drain requested');
    await settled();
    expect(shown).toEqual(['draining']);
  });

  it('applies reads that end in the order they started', async () => {
    const shown: number[] = [];
    const read = freshestReads<number>(
      (value) => shown.push(value),
      () => undefined,
    );
    const first = deferred<number>();
    const second = deferred<number>();
    read(first.promise);
    read(second.promise);
    first.resolve(1);
    await settled();
    second.resolve(2);
    await settled();
    expect(shown).toEqual([1, 2]);
  });

  it("reports a failure unless a newer read's answer is already applied", async () => {
    const failures: string[] = [];
    const read = freshestReads<number>(
      () => undefined,
      (error) => failures.push((error as Error).message),
    );
    const older = deferred<number>();
    const newer = deferred<number>();
    read(older.promise);
    read(newer.promise);
    newer.resolve(2);
    await settled();
    older.reject(new Error('stale failure'));
    await settled();
    expect(failures).toEqual([]);

    const last = deferred<number>();
    read(last.promise);
    last.reject(new Error('the API is down'));
    await settled();
    expect(failures).toEqual(['the API is down']);
  });
});
