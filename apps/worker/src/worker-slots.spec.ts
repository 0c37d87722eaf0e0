import type { AppConfig } from '@ratchet/config';
import { type Backlog, WorkerSlots } from './worker-slots';

function slots(
  concurrency: number,
  backlog: Backlog | null = null,
  leaseMs = 30_000,
): { slots: WorkerSlots; taker: { concurrency: number } } {
  const config = {
    env: { WORKER_CONCURRENCY: concurrency, RATCHET_STEP_LEASE_MS: leaseMs },
  } as unknown as AppConfig;
  const taker = { concurrency: 0 };
  const created = new WorkerSlots(config);
  created.attach(taker, backlog);
  return { slots: created, taker };
}

/** A queue whose jobs waiting are `waiting.count`, and how often it was asked. */
function queueOf(waiting: { count: number }): Backlog & { asked: number } {
  const backlog = {
    asked: 0,
    busy: (): Promise<boolean> => {
      backlog.asked += 1;
      return Promise.resolve(waiting.count > 0);
    },
  };
  return backlog;
}

describe('WorkerSlots', () => {
  it('lends free slots beside the running jobs, one always left for BullMQ', async () => {
    const { slots: gauge, taker } = slots(8);
    expect(taker.concurrency).toBe(8);
    await gauge.job(async () => {
      // One job runs: 6 of the other 7 slots can be lent.
      expect(gauge.borrow(3)).toBe(3);
      expect(taker.concurrency).toBe(5);
      expect(gauge.borrow(10)).toBe(3);
      expect(taker.concurrency).toBe(2);
      expect(gauge.borrow(1)).toBe(0);
      gauge.giveBack(3);
      expect(taker.concurrency).toBe(5);
      gauge.giveBack(3);
    });
    expect(taker.concurrency).toBe(8);
  });

  it('lends nothing while the jobs fill the slots', async () => {
    const { slots: gauge, taker } = slots(2);
    let release: () => void = () => undefined;
    const running = gauge.job(() => new Promise<void>((resolve) => (release = resolve)));
    expect(gauge.borrow(2)).toBe(0);
    expect(taker.concurrency).toBe(2);
    release();
    await running;
    // No job: one slot is still kept for BullMQ.
    expect(gauge.borrow(5)).toBe(1);
    expect(taker.concurrency).toBe(1);
  });

  it('counts a job that fails as done', async () => {
    const { slots: gauge } = slots(4);
    await expect(gauge.job(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gauge.borrow(5)).toBe(3);
  });

  it('keeps reserved siblings in line for the next free slots, ahead of new jobs', async () => {
    const { slots: gauge, taker } = slots(4);
    const ends: Array<() => void> = [];
    const jobs = [1, 2, 3, 4].map(() =>
      gauge.job(() => new Promise<void>((resolve) => ends.push(resolve))),
    );
    // Every slot is taken: nothing to lend, two siblings reserved instead.
    expect(gauge.borrow(2)).toBe(0);
    expect(gauge.reserve(2)).toBe(2);
    expect(taker.concurrency).toBe(2);
    const first = gauge.waitForSlot(60_000);
    const second = gauge.waitForSlot(60_000);
    // One job ends: its slot is kept for BullMQ, as borrow would keep it. The next goes to
    // the first sibling in line.
    ends[0]();
    await jobs[0];
    ends[1]();
    await jobs[1];
    await expect(first).resolves.toBe(true);
    expect(taker.concurrency).toBe(2);
    ends[2]();
    await jobs[2];
    await expect(second).resolves.toBe(true);
    expect(taker.concurrency).toBe(2);
    gauge.giveBack(2);
    expect(taker.concurrency).toBe(4);
    ends[3]();
    await jobs[3];
  });

  it('lets a sibling go when no slot comes within its wait, or its wait is called off', async () => {
    jest.useFakeTimers();
    try {
      const { slots: gauge, taker } = slots(1);
      expect(gauge.reserve(2)).toBe(2);
      expect(taker.concurrency).toBe(1);
      const late = gauge.waitForSlot(50);
      const stop = new AbortController();
      const calledOff = gauge.waitForSlot(50_000, stop.signal);
      jest.advanceTimersByTime(50);
      await expect(late).resolves.toBe(false);
      stop.abort();
      await expect(calledOff).resolves.toBe(false);
      // Both reservations are spent: the slots are BullMQ's again.
      expect(gauge.borrow(1)).toBe(0);
      expect(taker.concurrency).toBe(1);
      expect(gauge.reserve(10)).toBe(4);
      gauge.unreserve(4);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps a sibling waiting past its wait while jobs wait in the queue', async () => {
    jest.useFakeTimers();
    try {
      const queue = { count: 5 };
      const backlog = queueOf(queue);
      const { slots: gauge, taker } = slots(2, backlog);
      // A job holds the slot that is not BullMQ's.
      let end: () => void = () => undefined;
      const job = gauge.job(() => new Promise<void>((resolve) => (end = resolve)));
      expect(gauge.reserve(2)).toBe(2);
      const served = gauge.waitForSlot(50);
      const stop = new AbortController();
      const calledOff = gauge.waitForSlot(50, stop.signal);
      // Three waits run out with jobs in the queue: no worker is idle, both wait on.
      for (let i = 0; i < 3; i++) await jest.advanceTimersByTimeAsync(50);
      expect(backlog.asked).toBe(6);
      // One is called off while the queue is asked; the other is granted the slot that comes.
      stop.abort();
      await expect(calledOff).resolves.toBe(false);
      end();
      await job;
      await expect(served).resolves.toBe(true);
      gauge.giveBack(1);
      expect(taker.concurrency).toBe(2);
      // The queue is empty now: a wait that runs out ends, the sibling goes to it.
      queue.count = 0;
      const next = gauge.job(() => new Promise<void>((resolve) => (end = resolve)));
      expect(gauge.reserve(1)).toBe(1);
      const late = gauge.waitForSlot(50);
      await jest.advanceTimersByTimeAsync(50);
      await expect(late).resolves.toBe(false);
      expect(backlog.asked).toBe(7);
      end();
      await next;
    } finally {
      jest.useRealTimers();
    }
  });

  it('ends a wait at a quarter of the lease however long the queue stays busy', async () => {
    jest.useFakeTimers();
    try {
      const backlog = queueOf({ count: 1 });
      const { slots: gauge } = slots(1, backlog, 2_000);
      expect(gauge.reserve(1)).toBe(1);
      let ended = false;
      const wait = gauge.waitForSlot(100).then((granted) => {
        ended = true;
        return granted;
      });
      await jest.advanceTimersByTimeAsync(400);
      expect(ended).toBe(false);
      await jest.advanceTimersByTimeAsync(100);
      await expect(wait).resolves.toBe(false);
      expect(backlog.asked).toBe(4);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps nothing in line while most recent waits ended without a slot', async () => {
    jest.useFakeTimers();
    try {
      const { slots: gauge } = slots(2);
      // A long step holds the slot: five siblings in a row wait in vain.
      let end: () => void = () => undefined;
      const long = gauge.job(() => new Promise<void>((resolve) => (end = resolve)));
      expect(gauge.reserve(5)).toBe(5);
      const waits = [1, 2, 3, 4, 5].map(() => gauge.waitForSlot(50));
      jest.advanceTimersByTime(50);
      await expect(Promise.all(waits)).resolves.toEqual([false, false, false, false, false]);
      // Siblings go to the queue at once, until those misses have faded (halved each second).
      expect(gauge.reserve(3)).toBe(0);
      jest.advanceTimersByTime(1000);
      expect(gauge.reserve(3)).toBe(3);
      gauge.unreserve(3);
      end();
      await long;
    } finally {
      jest.useRealTimers();
    }
  });
});
