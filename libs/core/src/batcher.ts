/** An operation waiting for its batch. */
interface Pending<Op, Result> {
  op: Op;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface BatcherOptions<Op> {
  /** Operations with the same key never share a batch; they go in later ones, in order. */
  keyOf: (op: Op) => string;
  /** Batches that may be running at once. */
  maxInFlight: number;
  /** The most operations in one batch. */
  maxBatch: number;
}

/**
 * Groups operations that arrive together into batches, so a statement that takes many
 * operations runs once for all of them. Nothing waits for a batch to fill: operations queued
 * in the same tick go together, and while `maxInFlight` batches are running, what arrives
 * waits for one of them to return and then goes in the next. Alone, an operation goes out at
 * once, as a batch of one.
 *
 * `run` gets the operations and returns their results in the same order. When a batch of
 * several fails, each of its operations is run again alone, so each gets its own result or
 * its own error (the failed batch changed nothing: it is one statement).
 */
export class Batcher<Op, Result> {
  private readonly queue: Pending<Op, Result>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly runBatch: (ops: Op[]) => Promise<Result[]>,
    private readonly options: BatcherOptions<Op>,
  ) {}

  run(op: Op): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight += 1;
      void this.send(batch).finally(() => {
        this.inFlight -= 1;
        this.flush();
      });
    }
  }

  /**
   * The next batch: queued operations in order, skipping any whose key is taken already. One
   * pass over the queue, which keeps what it skips and what is past a full batch, in order.
   */
  private take(): Pending<Op, Result>[] {
    const batch: Pending<Op, Result>[] = [];
    const keys = new Set<string>();
    let kept = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const pending = this.queue[i];
      if (batch.length < this.options.maxBatch) {
        const key = this.options.keyOf(pending.op);
        if (!keys.has(key)) {
          keys.add(key);
          batch.push(pending);
          continue;
        }
      }
      this.queue[kept++] = pending;
    }
    this.queue.length = kept;
    return batch;
  }

  private async send(batch: Pending<Op, Result>[]): Promise<void> {
    try {
      const results = await this.runBatch(batch.map((pending) => pending.op));
      batch.forEach((pending, i) => pending.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      await Promise.all(
        batch.map((pending) =>
          this.runBatch([pending.op]).then(([result]) => pending.resolve(result), pending.reject),
        ),
      );
    }
  }
}
