import type { AppConfig } from '@ratchet/config';
import { RoundSlots } from './round-slots';
import { WorkerSlots } from './worker-slots';

function workerSlots(concurrency: number): { slots: WorkerSlots; taker: { concurrency: number } } {
  const config = {
    env: { WORKER_CONCURRENCY: concurrency, RATCHET_STEP_LEASE_MS: 30_000 },
  } as unknown as AppConfig;
  const taker = { concurrency: 0 };
  const slots = new WorkerSlots(config);
  slots.attach(taker);
  return { slots, taker };
}

describe('RoundSlots', () => {
  it("passes a finished sibling's slot to the next of its round that waits", async () => {
    const { slots, taker } = workerSlots(2);
    // A job holds one slot, the other is kept for BullMQ: the round's other two wait.
    await slots.job(async () => {
      expect(slots.reserve(2)).toBe(2);
      const round = new RoundSlots(slots, 60_000);
      const second = round.acquire();
      const third = round.acquire();
      round.free('job');
      await expect(second).resolves.toBe('job');
      round.free('job');
      await expect(third).resolves.toBe('job');
      // The job's own slot, passed on, is never given back to WorkerSlots.
      round.free('job');
      expect(taker.concurrency).toBe(2);
    });
    expect(slots.borrow(5)).toBe(1);
  });

  it('takes a slot that WorkerSlots grants, and gives back one granted too late', async () => {
    const { slots, taker } = workerSlots(4);
    expect(slots.reserve(2)).toBe(2);
    const round = new RoundSlots(slots, 60_000);
    // Nothing holds the slots: three are free beside the one kept for BullMQ.
    await expect(round.acquire()).resolves.toBe('borrowed');
    await expect(round.acquire()).resolves.toBe('borrowed');
    expect(taker.concurrency).toBe(2);
    round.free('borrowed');
    round.free('borrowed');
    expect(taker.concurrency).toBe(4);
  });

  it('gives up a sibling whose slot does not come in time', async () => {
    const { slots, taker } = workerSlots(1);
    expect(slots.reserve(1)).toBe(1);
    const round = new RoundSlots(slots, 20);
    await expect(round.acquire()).resolves.toBeNull();
    // Its place in line is spent: all of them are free again, and BullMQ's slot with them.
    expect(taker.concurrency).toBe(1);
    expect(slots.reserve(10)).toBe(4);
  });
});
