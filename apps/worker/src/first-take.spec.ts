import { setTimeout as delay } from 'node:timers/promises';
import { firstModelCall, type ClaimedStep } from '@ratchet/store';
import { FirstTake } from './first-take';

function firstCall(): ClaimedStep {
  return {
    step: firstModelCall('step_1'),
    scopeId: 'scope_1',
    responseId: 'resp_1',
    attempt: 1,
    owner: 'worker-a',
    deadlineAt: null,
  };
}

/** A claim that answers each call with the next of `answers` (the last one from then on). */
function claims(...answers: (number | 'missing' | null)[]) {
  const calls: number[] = [];
  const claim = async (): Promise<ClaimedStep | 'missing' | null> => {
    const answer = answers[Math.min(calls.length, answers.length - 1)];
    calls.push(Date.now());
    return typeof answer === 'number' ? { ...firstCall(), attempt: answer } : answer;
  };
  return { claim, calls };
}

describe('FirstTake', () => {
  it('claims a call still running after its delay, and takes the attempt of the claim', async () => {
    const claimed = firstCall();
    const { claim, calls } = claims(1);
    const take = new FirstTake(claimed, claim, { afterMs: 10 });
    await delay(40);
    await take.settle();
    expect(calls).toHaveLength(1);
    expect(take.state).toBe('taken');
    expect(claimed.attempt).toBe(1);
  });

  it('claims nothing for a call that ends before its delay', async () => {
    const { claim, calls } = claims(1);
    const take = new FirstTake(firstCall(), claim, { afterMs: 30 });
    await take.settle();
    await delay(50);
    expect(calls).toEqual([]);
    expect(take.state).toBe('unclaimed');
  });

  it('waits for a step that is not there yet, then claims it', async () => {
    const { claim, calls } = claims('missing', 'missing', 1);
    const take = new FirstTake(firstCall(), claim, { afterMs: 60_000, waits: [5, 5, 5] });
    await take.take();
    expect(calls).toHaveLength(3);
    expect(take).toMatchObject({ state: 'taken', missing: false });
  });

  it('is lost to a claim made elsewhere, or to a step that never comes', async () => {
    const elsewhere = new FirstTake(firstCall(), claims(null).claim, { afterMs: 60_000 });
    await elsewhere.take();
    expect(elsewhere).toMatchObject({ state: 'lost', missing: false });

    const never = claims('missing');
    const missing = new FirstTake(firstCall(), never.claim, { afterMs: 60_000, waits: [1, 1] });
    await missing.take();
    expect(never.calls).toHaveLength(3);
    expect(missing).toMatchObject({ state: 'lost', missing: true });
  });

  it('lets an outcome that found no step try again at once, then after each wait, then no more', async () => {
    const take = new FirstTake(firstCall(), claims(1).claim, {
      afterMs: 60_000,
      waits: [200, 200],
    });
    take.stop();
    const started = Date.now();
    expect(await take.awaitRecord()).toBe(true);
    expect(Date.now() - started).toBeLessThan(150);
    expect(await take.awaitRecord()).toBe(true);
    expect(await take.awaitRecord()).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(398);
    expect(await take.awaitRecord()).toBe(false);
    expect(take.missing).toBe(true);
  });
});
