import type { JobQueue } from '@ratchet/queue';
import { DrainState } from './drain-state';
import { QueueBacklog } from './queue-backlog';

/** A queue whose waiting jobs are `waiting.count` (or that fails), counting the questions. */
function queueOf(waiting: { count: number | Error }): JobQueue & { asked: number } {
  const queue = {
    asked: 0,
    waitingCount: (): Promise<number> => {
      queue.asked += 1;
      const { count } = waiting;
      return count instanceof Error ? Promise.reject(count) : Promise.resolve(count);
    },
  };
  return queue as unknown as JobQueue & { asked: number };
}

describe('QueueBacklog', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks once for the waits that run out together, and again once the answer is old', async () => {
    const waiting = { count: 3 as number | Error };
    const queue = queueOf(waiting);
    const backlog = new QueueBacklog(queue, new DrainState());
    await expect(Promise.all([backlog.busy(), backlog.busy(), backlog.busy()])).resolves.toEqual([
      true,
      true,
      true,
    ]);
    expect(queue.asked).toBe(1);
    waiting.count = 0;
    jest.advanceTimersByTime(10);
    await expect(backlog.busy()).resolves.toBe(true);
    jest.advanceTimersByTime(15);
    await expect(backlog.busy()).resolves.toBe(false);
    expect(queue.asked).toBe(2);
  });

  it('counts the queue as empty when Redis does not answer, or the worker drains', async () => {
    const waiting = { count: new Error('Connection is closed.') as number | Error };
    const queue = queueOf(waiting);
    const drain = new DrainState();
    const backlog = new QueueBacklog(queue, drain);
    await expect(backlog.busy()).resolves.toBe(false);
    waiting.count = 5;
    jest.advanceTimersByTime(25);
    await expect(backlog.busy()).resolves.toBe(true);
    await drain.drain();
    await expect(backlog.busy()).resolves.toBe(false);
    expect(queue.asked).toBe(2);
  });
});
