import type { AppConfig } from '@ratchet/config';
import { WorkerSlots } from './worker-slots';

function slots(concurrency: number): { slots: WorkerSlots; taker: { concurrency: number } } {
  const config = { env: { WORKER_CONCURRENCY: concurrency } } as unknown as AppConfig;
  const taker = { concurrency: 0 };
  const created = new WorkerSlots(config);
  created.attach(taker);
  return { slots: created, taker };
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
});
