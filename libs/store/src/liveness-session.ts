import { Client } from 'pg';
import { statement } from './sql';

// A worker's proof of life: a Postgres session of its own holding an advisory lock. Postgres
// releases the lock the moment the session ends, whichever way it ends (the process killed,
// its host's kernel closing the socket, the server restarting, the connection cut), so other
// workers learn of a death from Postgres itself, without waiting for a lease to run out. The
// session runs nothing but its registration and pings, so no statement, transaction or idle
// timeout may end it while the worker lives, however long its event loop is stuck.

/** Advisory lock class of liveness locks (the two-key form): `(LIVENESS_LOCK_CLASS, lock_key)`. */
export const LIVENESS_LOCK_CLASS = 72_707_371;

/**
 * A `pg_locks` condition: whether the liveness lock of worker row `w` is held, in this
 * database. A free lock means that worker's session is gone.
 */
export const LIVENESS_LOCK_HELD = (w: string): string => `EXISTS (
       SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = ${LIVENESS_LOCK_CLASS}::oid AND l.objid = ${w}.lock_key::oid)`;

/**
 * Settings of the liveness session. Timeouts a DBA may set for every session are turned off:
 * the session is idle between pings by design. Server-side TCP keepalives let Postgres notice
 * a worker whose host vanished without closing the connection (power loss, a partition) in
 * about 5 + 4 x 3 = 17 s, instead of the kernel's default two hours; a live process answers
 * them from its kernel even while stopped or starved of CPU. A setting this server does not
 * know (idle_session_timeout before Postgres 14) is skipped.
 */
const SESSION_SETTINGS: Record<string, string> = {
  statement_timeout: '0',
  lock_timeout: '0',
  idle_in_transaction_session_timeout: '0',
  idle_session_timeout: '0',
  tcp_keepalives_idle: '5',
  tcp_keepalives_interval: '3',
  tcp_keepalives_count: '4',
  jit: 'off',
};

const SQL = {
  settings: statement(
    'liveness-settings',
    `SELECT set_config(s.name, v.value, false)
       FROM json_each_text($1::json) v JOIN pg_settings s ON s.name = v.key`,
  ),
  // The row and the lock in one statement: by the time the row is visible to anyone, its lock
  // is held, so no watcher can see the new worker as dead.
  register: statement(
    'liveness-register',
    `WITH w AS (INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3) RETURNING lock_key)
     SELECT lock_key, pg_try_advisory_lock(${LIVENESS_LOCK_CLASS}, lock_key) AS locked FROM w`,
  ),
  ping: statement('liveness-ping', 'SELECT 1'),
};

export interface LivenessSessionOptions {
  connectionString: string;
  /** The worker id this session stands for (what the worker writes as a lease owner). */
  workerId: string;
  host: string;
  pid: number;
  /** Called once when the session ends without `close()`: the lock is, or soon will be, free. */
  onLost: (reason: string) => void;
  /** How long opening (connecting, registering) may take before it fails. */
  openTimeoutMs?: number;
}

/**
 * node-postgres keeps the socket on `connection.stream`; destroying it is the only way to drop
 * a connection at once. Not end(): its goodbye may never be answered on a connection that
 * stopped answering.
 */
interface ClientInternals {
  connection?: { stream?: { destroy(): void } };
}

function destroy(client: Client): void {
  (client as unknown as ClientInternals).connection?.stream?.destroy();
}

/** One registered liveness session. Open with `LivenessSession.open`. */
export class LivenessSession {
  private ended = false;

  private constructor(
    private readonly client: Client,
    readonly workerId: string,
    readonly lockKey: number,
    private readonly onLost: (reason: string) => void,
  ) {}

  /** Connects, registers `workerId` and takes its lock; throws if any of it fails. */
  static async open(options: LivenessSessionOptions): Promise<LivenessSession> {
    const openTimeoutMs = options.openTimeoutMs ?? 10_000;
    const client = new Client({
      connectionString: options.connectionString,
      application_name: 'ratchet-worker-liveness',
      connectionTimeoutMillis: openTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
    });
    let session: LivenessSession | null = null;
    let failure: string | null = null;
    const lost = (reason: string): void => {
      if (session) session.lose(reason);
      else failure ??= reason;
    };
    // An error on an idle client (the server ending the session) arrives as an event; without
    // a listener it would crash the process.
    client.on('error', (error) => lost(`the session failed: ${error.message}`));
    client.on('end', () => lost('the session ended'));
    // Pings have no timeout of their own (see Liveness): only opening does, for a connection
    // that stops answering halfway would otherwise hold the worker without a session.
    const timer = setTimeout(() => {
      failure ??= `opening took longer than ${openTimeoutMs} ms`;
      destroy(client);
    }, openTimeoutMs);
    try {
      await client.connect();
      await client.query({ ...SQL.settings, values: [JSON.stringify(SESSION_SETTINGS)] });
      const { rows } = await client.query<{ lock_key: number; locked: boolean }>({
        ...SQL.register,
        values: [options.workerId, options.host, options.pid],
      });
      if (!rows[0]?.locked) throw new Error(`the liveness lock of ${options.workerId} is taken`);
      if (failure) throw new Error(failure);
      session = new LivenessSession(client, options.workerId, rows[0].lock_key, options.onLost);
      return session;
    } catch (error) {
      destroy(client);
      throw failure ? new Error(failure, { cause: error }) : error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A round trip on the session; rejects when it is gone. */
  async ping(): Promise<void> {
    await this.client.query(SQL.ping);
  }

  /**
   * Ends the session as lost: the connection is destroyed (its lock is released as soon as
   * Postgres sees it close) and `onLost` is called. Used when pings go unanswered.
   */
  lose(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    destroy(this.client);
    this.onLost(reason);
  }

  /** Ends the session on purpose: the lock is released, nothing is reported lost. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.client.end().catch(() => undefined);
  }
}
