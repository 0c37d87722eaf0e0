import type { ResponseBus } from '@ratchet/events';
import { InFlightRegistry, StepAbort } from './in-flight.registry';

const registry = (): InFlightRegistry => new InFlightRegistry({} as ResponseBus);

/** A step that runs until its signal aborts, then returns why. */
const untilAborted = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    signal.addEventListener('abort', () => resolve(signal.reason));
  });

describe('InFlightRegistry and the liveness session', () => {
  it('runs a step claimed under the standing session, and records it', async () => {
    const inFlight = registry();
    inFlight.adopt('w1');
    const result = await inFlight.run('resp_1', null, 'w1', () => Promise.resolve('done'));
    expect(result).toEqual({ value: 'done', handBack: false });
  });

  it('aborts at once, to hand back, a step claimed under a session that is gone', async () => {
    const inFlight = registry();
    inFlight.adopt('w2');
    const result = await inFlight.run('resp_1', null, 'w1', untilAborted);
    expect(result.handBack).toBe(true);
    expect(result.value).toBeInstanceOf(StepAbort);
    expect((result.value as StepAbort).kind).toBe('orphaned');
  });

  it('aborts every running step when the session is lost, and starts none until a new one stands', async () => {
    const inFlight = registry();
    inFlight.adopt('w1');
    const running = [
      inFlight.run('resp_1', null, 'w1', untilAborted),
      inFlight.run('resp_2', null, 'w1', untilAborted),
    ];
    expect(inFlight.orphan()).toBe(2);
    for (const result of await Promise.all(running)) {
      expect(result.handBack).toBe(true);
      expect((result.value as StepAbort).kind).toBe('orphaned');
    }
    const late = await inFlight.run('resp_3', null, 'w1', untilAborted);
    expect(late.handBack).toBe(true);

    inFlight.adopt('w2');
    const fresh = await inFlight.run('resp_4', null, 'w2', () => Promise.resolve(1));
    expect(fresh).toEqual({ value: 1, handBack: false });
  });

  it('does not hand back a step aborted by a cancel: its outcome is recorded', async () => {
    const inFlight = registry();
    inFlight.adopt('w1');
    const running = inFlight.run('resp_1', null, 'w1', untilAborted);
    inFlight.abortResponse('resp_1');
    const result = await running;
    expect(result.handBack).toBe(false);
    expect((result.value as StepAbort).kind).toBe('cancelled');
  });

  it('aborts at once a step that starts just after its response was cancelled', async () => {
    jest.useFakeTimers();
    try {
      const inFlight = registry();
      inFlight.adopt('w1');
      // A sibling claimed before the cancel, still waiting for a slot when it came.
      inFlight.abortResponse('resp_1');
      const late = await inFlight.run('resp_1', null, 'w1', untilAborted);
      expect(late.handBack).toBe(false);
      expect((late.value as StepAbort).kind).toBe('cancelled');
      await expect(inFlight.run('resp_2', null, 'w1', () => Promise.resolve(2))).resolves.toEqual({
        value: 2,
        handBack: false,
      });
      // A minute on, the cancel is forgotten.
      jest.advanceTimersByTime(60_000);
      inFlight.abortResponse('resp_3');
      await expect(inFlight.run('resp_1', null, 'w1', () => Promise.resolve(1))).resolves.toEqual({
        value: 1,
        handBack: false,
      });
    } finally {
      jest.useRealTimers();
    }
  });

  it('says when no step runs any more', async () => {
    const inFlight = registry();
    inFlight.adopt('w1');
    await expect(inFlight.drained()).resolves.toBeUndefined();
    let finish!: () => void;
    const running = inFlight.run(
      'resp_1',
      null,
      'w1',
      () => new Promise<void>((resolve) => (finish = resolve)),
    );
    let drained = false;
    const waiting = inFlight.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    finish();
    await running;
    await waiting;
    expect(drained).toBe(true);
  });
});
