import { Logger } from '@nestjs/common';
import type { AppConfig } from '@ratchet/config';
import type { ResponseBus } from '@ratchet/events';
import { LivenessSession, type LivenessSessionOptions } from '@ratchet/store';
import type { InFlightRegistry } from './in-flight.registry';
import { Liveness } from './liveness.service';

/** A session that answers pings only when the test says so. */
class FakeSession {
  closed = false;
  lost: string | null = null;
  readonly pings: (() => void)[] = [];

  constructor(readonly options: LivenessSessionOptions) {}

  get workerId(): string {
    return this.options.workerId;
  }

  ping(): Promise<void> {
    return new Promise((resolve) => this.pings.push(resolve));
  }

  lose(reason: string): void {
    if (this.lost !== null) return;
    this.lost = reason;
    this.options.onLost(reason);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

beforeAll(() => {
  Logger.overrideLogger(false);
});

describe('Liveness', () => {
  let sessions: FakeSession[];
  let inFlight: { adopt: jest.Mock; orphan: jest.Mock; drained: jest.Mock };
  let liveness: Liveness;
  let bus: { publishWorkerChange: jest.Mock };

  beforeEach(async () => {
    jest.useFakeTimers();
    sessions = [];
    jest.spyOn(LivenessSession, 'open').mockImplementation((options) => {
      const session = new FakeSession(options);
      sessions.push(session);
      return Promise.resolve(session as unknown as LivenessSession);
    });
    inFlight = {
      adopt: jest.fn(),
      orphan: jest.fn(() => 0),
      drained: jest.fn(() => Promise.resolve()),
    };
    bus = { publishWorkerChange: jest.fn() };
    liveness = new Liveness(
      { env: { DATABASE_URL: 'postgres://unused' } } as AppConfig,
      inFlight as unknown as InFlightRegistry,
      bus as unknown as ResponseBus,
    );
    await liveness.onApplicationBootstrap();
  });

  afterEach(async () => {
    await liveness.onApplicationShutdown();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('claims steps under the id of its session once it stands', async () => {
    expect(sessions).toHaveLength(1);
    const id = sessions[0].workerId;
    expect(id).toMatch(/^.+:\d+:[0-9a-f]{6}$/);
    await expect(liveness.ready()).resolves.toBe(id);
    expect(liveness.workerId).toBe(id);
    expect(inFlight.adopt).toHaveBeenCalledWith(id);
    // The operations view is told of the new worker.
    expect(bus.publishWorkerChange.mock.calls).toEqual([[id]]);
  });

  it('keeps a session whose pings are answered, however slowly within 8 ticks', async () => {
    const [session] = sessions;
    for (let round = 0; round < 5; round++) {
      jest.advanceTimersByTime(7_000);
      session.pings.shift()?.();
      await flush();
    }
    expect(session.lost).toBeNull();
    expect(inFlight.orphan).not.toHaveBeenCalled();
  });

  it('gives the session up when a ping goes unanswered for 8 ticks, hands its steps back and opens a new one', async () => {
    const [first] = sessions;
    jest.advanceTimersByTime(8_000);
    expect(first.lost).toBeNull();
    jest.advanceTimersByTime(1_000);
    expect(first.lost).toMatch(/unanswered/);
    expect(inFlight.orphan).toHaveBeenCalledTimes(1);

    await flush();
    expect(sessions).toHaveLength(2);
    const second = sessions[1].workerId;
    expect(second).not.toBe(first.workerId);
    await expect(liveness.ready()).resolves.toBe(second);
    expect(inFlight.adopt).toHaveBeenLastCalledWith(second);
  });

  it('hands the steps back and takes no jobs while no session stands', async () => {
    const states: boolean[] = [];
    liveness.onChange((live) => states.push(live));
    sessions[0].lose('the session failed: terminating connection due to administrator command');
    expect(inFlight.orphan).toHaveBeenCalledTimes(1);
    expect(states).toEqual([true, false]);
    await flush();
    expect(sessions).toHaveLength(2);
    expect(states).toEqual([true, false, true]);
  });

  it('ends its session on shutdown only once no step runs', async () => {
    let drain!: () => void;
    inFlight.drained.mockReturnValue(new Promise<void>((resolve) => (drain = resolve)));
    const stopping = liveness.onApplicationShutdown();
    await flush();
    expect(sessions[0].closed).toBe(false);
    drain();
    await stopping;
    expect(sessions[0].closed).toBe(true);
    expect(inFlight.orphan).not.toHaveBeenCalled();
  });
});
