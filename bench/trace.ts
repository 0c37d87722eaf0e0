import { Client } from 'pg';
import type { Cleanup } from './cleanup';
import { startPgTap, type PgTap } from './pg-tap';
import { RatchetClient } from './ratchet-client';
import { startRatchet } from './ratchet-processes';
import { startRedisTap, type RedisTap } from './redis-tap';
import { toolRoundShape, type Shape } from './shapes';
import { nowMs, summarize } from './stats';

// The diagnostic pass: a separate API and worker whose Postgres and Redis connections run
// through wire taps, so each round trip a response costs can be counted and attributed to a
// process and a statement. Not part of the headline figures: the taps add latency.

const STATEMENT_ROWS = 24;
const REDIS_ROWS = 16;
const FLOOR_QUERIES = 200;

export interface TraceSettings {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  noopUrl: string;
  concurrency: number;
  responses: number;
  warmup: number;
}

export interface TraceResult {
  shape: Shape;
  responses: number;
  latencyP50Ms: number;
  /** p50 of `SELECT 1` through a tap: the cost of one round trip with the tap in the way. */
  pgFloorMs: number;
  processes: {
    name: string;
    pgRoundTrips: number;
    pgTransactions: number;
    pgWriteCommits: number;
    pgMs: number;
    redisCommands: number;
  }[];
  statements: { process: string; text: string; count: number; meanMs: number }[];
  redisCommands: { process: string; command: string; count: number }[];
  /** BullMQ jobs the responses went through (each completes with one moveToFinished). */
  jobs: number;
}

interface TappedProcess {
  name: string;
  pg: PgTap;
  redis: RedisTap;
}

export async function runTrace(settings: TraceSettings, cleanup: Cleanup): Promise<TraceResult> {
  const pgTarget = hostPort(settings.databaseUrl, 5432);
  const redisTarget = hostPort(settings.redisUrl, 6379);
  const taps: TappedProcess[] = [];
  // Closed in reverse at the end, or by the run's cleanup if the bench is interrupted.
  const closers: (() => Promise<void>)[] = [];
  try {
    for (const name of ['api', 'worker']) {
      const pg = await startPgTap(pgTarget);
      closers.push(cleanup.add(`${name} pg tap`, pg.close));
      const redis = await startRedisTap(redisTarget);
      closers.push(cleanup.add(`${name} redis tap`, redis.close));
      taps.push({ name, pg, redis });
    }
    const [api, worker] = taps;
    const ratchet = await startRatchet({
      databaseUrl: throughTap(settings.databaseUrl, api.pg.port),
      redisUrl: throughTap(settings.redisUrl, api.redis.port),
      workerDatabaseUrl: throughTap(settings.databaseUrl, worker.pg.port),
      workerRedisUrl: throughTap(settings.redisUrl, worker.redis.port),
      redisPrefix: settings.redisPrefix,
      noopUrl: settings.noopUrl,
      workers: 1,
      concurrency: settings.concurrency,
    });
    closers.push(cleanup.add('traced ratchet processes', ratchet.stop));
    const client = new RatchetClient(ratchet.baseUrl, ratchet.adminKey, 4);
    closers.push(cleanup.add('trace client', () => client.close()));

    const shape = toolRoundShape(1);
    for (let i = 0; i < settings.warmup; i++) await client.create(shape.body);
    taps.forEach((tap) => {
      tap.pg.reset();
      tap.redis.reset();
    });
    const latencies: number[] = [];
    for (let i = 0; i < settings.responses; i++) {
      const started = nowMs();
      const response = await client.create(shape.body);
      latencies.push(nowMs() - started);
      if (response.status !== 'completed') throw new Error(`trace response ${response.status}`);
    }
    const snapshot = taps.map((tap) => ({
      name: tap.name,
      pg: tap.pg.stats(),
      redis: tap.redis.commands(),
    }));
    const pgFloorMs = await measureFloor(settings.databaseUrl, pgTarget);

    const jobs = snapshot
      .flatMap((s) => s.redis)
      .filter((c) => c.command.endsWith(' moveToFinished'))
      .reduce((sum, c) => sum + c.count, 0);
    return {
      shape,
      responses: settings.responses,
      jobs,
      latencyP50Ms: summarize(latencies).p50,
      pgFloorMs,
      processes: snapshot.map((s) => ({
        name: s.name,
        pgRoundTrips: s.pg.roundTrips,
        pgTransactions: s.pg.transactions,
        pgWriteCommits: s.pg.writeCommits,
        pgMs: s.pg.totalMs,
        redisCommands: s.redis.reduce((sum, c) => sum + c.count, 0),
      })),
      statements: snapshot
        .flatMap((s) =>
          s.pg.statements.map((st) => ({
            process: s.name,
            text: st.text,
            count: st.count,
            meanMs: st.totalMs / st.count,
          })),
        )
        .sort((a, b) => b.count - a.count || b.meanMs - a.meanMs)
        .slice(0, STATEMENT_ROWS),
      redisCommands: snapshot
        .flatMap((s) => s.redis.map((c) => ({ process: s.name, ...c })))
        .sort((a, b) => b.count - a.count)
        .slice(0, REDIS_ROWS),
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}

/** p50 of a trivial query through a tap of its own. */
async function measureFloor(
  databaseUrl: string,
  target: { host: string; port: number },
): Promise<number> {
  const tap = await startPgTap(target);
  const client = new Client({ connectionString: throughTap(databaseUrl, tap.port) });
  try {
    await client.connect();
    const samples: number[] = [];
    for (let i = 0; i < FLOOR_QUERIES; i++) {
      const started = nowMs();
      await client.query('SELECT 1');
      samples.push(nowMs() - started);
    }
    return summarize(samples).p50;
  } finally {
    await client.end().catch(() => undefined);
    await tap.close();
  }
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port) || defaultPort };
}

function throughTap(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}
