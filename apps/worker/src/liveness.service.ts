import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { ResponseBus } from '@ratchet/events';
import { LivenessSession } from '@ratchet/store';
import { InFlightRegistry } from './in-flight.registry';

/** How often the session is pinged: a worker cut off from Postgres finds out by its pings. */
const PING_INTERVAL_MS = 1_000;
/**
 * A ping still unanswered after this many ticks of the ping timer (8 s at least) means the
 * session is lost: the network or Postgres stopped answering. Well under the ~17 s Postgres's
 * keepalives take to end the session of a worker it cannot reach (see LivenessSession), so a
 * worker cut off gives its steps up before another can take them over; long enough that a slow
 * Postgres is not taken for a lost one. Ticks, not elapsed time: after the event loop was
 * stuck (a long synchronous task, a stopped process), the timer fires once, before sockets are
 * read, and an answer waiting in one would be taken for none. Between two ticks the loop has
 * read its sockets.
 */
const PING_TIMEOUT_TICKS = 8;
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 1_000;
/**
 * How long a job waits for a liveness session before it fails, for BullMQ to retry it, most
 * likely on another worker: long enough for a session to be opened again at once, short
 * enough not to sit on work while cut off from Postgres.
 */
const READY_TIMEOUT_MS = 2_000;
/** How long startup waits for the first session before going on without it. */
const BOOT_WAIT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The worker's liveness session (LivenessSession): while it stands, Postgres holds a lock for
 * this worker, and other workers leave its steps alone; the moment it ends, they take them over
 * (Sweeper). Each session is a new worker id, the owner of the steps claimed under it. When the
 * session is lost, every step running here is aborted and handed back (InFlightRegistry), and
 * a new session is opened under a new id.
 */
@Injectable()
export class Liveness implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(Liveness.name);
  private readonly databaseUrl: string;
  private readonly prefix = `${hostname()}:${process.pid}`;
  private session: LivenessSession | null = null;
  private lastWorkerId: string | null = null;
  private readonly waiters: ((workerId: string) => void)[] = [];
  private readonly listeners: ((live: boolean) => void)[] = [];
  private connecting: Promise<void> | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  /** Ticks of the ping timer since the ping in flight was sent; null when none is. */
  private pingTicks: number | null = null;
  private closing = false;

  constructor(
    config: AppConfig,
    private readonly inFlight: InFlightRegistry,
    private readonly bus: ResponseBus,
  ) {
    this.databaseUrl = config.env.DATABASE_URL;
  }

  /**
   * The worker id of the standing session, or of the last one: steps are claimed under it.
   * A step claimed under a lost session is taken over by other workers, and aborted here.
   */
  get workerId(): string {
    return this.session?.workerId ?? this.lastWorkerId ?? `${this.prefix}:unregistered`;
  }

  /** Resolves with the worker id once a session stands; rejects after READY_TIMEOUT_MS. */
  async ready(): Promise<string> {
    if (this.session) return this.session.workerId;
    if (this.closing) throw new Error('the worker is shutting down');
    return new Promise((resolve, reject) => {
      const waiter = (workerId: string): void => {
        clearTimeout(timer);
        resolve(workerId);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no liveness session in Postgres after ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      this.waiters.push(waiter);
    });
  }

  /**
   * Calls `listener` with whether a session stands, now and whenever that changes (the job
   * processor takes no jobs while none does).
   */
  onChange(listener: (live: boolean) => void): void {
    this.listeners.push(listener);
    listener(this.session !== null);
  }

  private changed(live: boolean): void {
    for (const listener of this.listeners) listener(live);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.connecting = this.connect();
    await Promise.race([this.connecting, sleep(BOOT_WAIT_MS)]);
  }

  /**
   * Other workers take a session's steps over as soon as it ends, so it ends only once the
   * steps running here have finished or been handed back.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.inFlight.drained();
    this.closing = true;
    this.stopPings();
    await this.connecting;
    await this.session?.close();
    this.session = null;
    // (The bus is closed by now: the workers' watch that removes its registration tells.)
  }

  /** Opens a session under a new worker id, trying again until one stands or shutdown. */
  private async connect(): Promise<void> {
    let delay = RECONNECT_FIRST_MS;
    while (!this.closing) {
      const workerId = `${this.prefix}:${randomBytes(3).toString('hex')}`;
      try {
        const session = await LivenessSession.open({
          connectionString: this.databaseUrl,
          workerId,
          host: hostname(),
          pid: process.pid,
          onLost: (reason) => this.lost(workerId, reason),
        });
        if (this.closing) {
          await session.close();
          return;
        }
        this.session = session;
        this.lastWorkerId = workerId;
        this.inFlight.adopt(workerId);
        this.startPings(session);
        this.logger.log(`liveness session open: worker ${workerId}`);
        this.bus.publishWorkerChange(workerId);
        for (const waiter of this.waiters.splice(0)) waiter(workerId);
        this.changed(true);
        return;
      } catch (error) {
        this.logger.warn(
          `could not open a liveness session (${(error as Error).message}); trying again in ${delay} ms`,
        );
        await sleep(delay);
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
      }
    }
  }

  private lost(workerId: string, reason: string): void {
    if (this.closing || this.session?.workerId !== workerId) return;
    this.session = null;
    this.stopPings();
    const aborted = this.inFlight.orphan();
    this.changed(false);
    this.logger.warn(
      `lost the liveness session of worker ${workerId} (${reason}): other workers take its steps over; ${aborted} running step(s) here aborted and handed back`,
    );
    this.connecting = this.connect();
  }

  private startPings(session: LivenessSession): void {
    this.pingTicks = null;
    this.pingTimer = setInterval(() => this.ping(session), PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  private stopPings(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.pingTicks = null;
  }

  private ping(session: LivenessSession): void {
    if (this.session !== session) return;
    if (this.pingTicks !== null) {
      this.pingTicks++;
      if (this.pingTicks >= PING_TIMEOUT_TICKS) {
        session.lose(
          `a ping went unanswered for ${this.pingTicks} ticks of ${PING_INTERVAL_MS} ms`,
        );
      }
      return;
    }
    this.pingTicks = 0;
    session.ping().then(
      () => {
        if (this.session === session) this.pingTicks = null;
      },
      (error: unknown) => session.lose(`a ping failed: ${(error as Error).message}`),
    );
  }
}
