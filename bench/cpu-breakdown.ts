import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { createBenchDatabase } from './bench-database';
import { Cleanup } from './cleanup';
import {
  BENCH_APPLICATION_NAME,
  cpuBetween,
  postgresBackends,
  snapshotCpu,
  type NamedPid,
} from './cpu';
import { fanoutShape } from './fanout';
import { gcBetween, readGc } from './gc';
import { deleteRedisKeys } from './machine';
import { startNoopToolServer } from './noop-tool-server';
import { readOptions } from './options';
import { RatchetClient } from './ratchet-client';
import { startRatchet } from './ratchet-processes';
import { startRedisTap, type RedisTap } from './redis-tap';
import { median } from './stats';

// `node dist/bench/cpu-breakdown.js`: where the CPU of a parallel tool round goes. Bursts of
// fan-out responses (model -> 4 parallel tool calls -> model, 6 steps, foreground POSTs all at
// once) through one API and BENCH_WORKERS worker(s); for each burst, the CPU time (utime +
// stime from /proc) of the API, the workers and the Postgres backends serving them, the
// statements Postgres ran (pg_stat_statements, when the server loads it), the Redis commands
// each process sent (through wire taps) and the garbage collections each process ran (its
// Prometheus metrics). Each burst is one sample: figures are the median of the bursts with
// their range. See docs/cpu.md.

interface BreakdownOptions {
  responses: number;
  rounds: number;
  warmupRounds: number;
  /** Another checkout to run the build of (BENCH_RATCHET_ROOT), for A/B runs. */
  root: string | undefined;
  /** Node arguments of ratchet's processes instead of the npm scripts' (BENCH_NODE_ARGS). */
  nodeArgs: string[] | undefined;
  json: boolean;
}

function readBreakdownOptions(): BreakdownOptions {
  const int = (name: string, fallback: number, min: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
    }
    return value;
  };
  const nodeArgs = process.env.BENCH_NODE_ARGS;
  return {
    responses: int('BENCH_BREAKDOWN_RESPONSES', 300, 1),
    rounds: int('BENCH_BREAKDOWN_ROUNDS', 5, 1),
    warmupRounds: int('BENCH_BREAKDOWN_WARMUP_ROUNDS', 1, 0),
    root: process.env.BENCH_RATCHET_ROOT || undefined,
    nodeArgs: nodeArgs === undefined ? undefined : nodeArgs.split(/\s+/).filter(Boolean),
    json: process.argv.includes('--json'),
  };
}

interface StatementRow {
  label: string;
  /** Sent by a client, not run inside another statement (foreign-key checks, functions). */
  toplevel: boolean;
  calls: number;
  totalMs: number;
  rows: number;
}

/** One burst's figures, per step. */
interface Sample {
  cpuMs: Record<string, number>;
  pgStatements: number | null;
  pgExecMs: number | null;
  redisCommands: Record<string, number>;
  jobs: number;
  statements: StatementRow[];
  redis: { process: string; command: string; count: number }[];
  /**
   * Per process: young-generation collections (scavenges) and full ones per 1,000 steps, and
   * the collector's main-thread ms per step.
   */
  gc: Record<string, { minor: number; major: number; ms: number }>;
}

function log(line: string): void {
  process.stderr.write(`cpu-breakdown: ${line}\n`);
}

/** A statement's label: the names of its CTEs when it has some, else its start. */
export function statementLabel(query: string): string {
  const text = query.replace(/\s+/g, ' ').trim();
  if (/^WITH /i.test(text)) {
    const names = [...text.matchAll(/(?:WITH|,)\s*(\w+) AS (?:MATERIALIZED )?\(/gi)].map(
      (match) => match[1],
    );
    return `WITH ${[...new Set(names)].join(', ')} … ${text.slice(text.lastIndexOf(')') + 1, text.lastIndexOf(')') + 50).trim()}`;
  }
  return text.length > 110 ? `${text.slice(0, 110)}…` : text;
}

async function hasStatementStats(db: Pool): Promise<boolean> {
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.query('SELECT pg_stat_statements_reset()');
    return true;
  } catch (error) {
    log(`no pg_stat_statements (${(error as Error).message}): statement counts are skipped`);
    return false;
  }
}

async function readStatements(db: Pool): Promise<StatementRow[]> {
  const { rows } = await db.query<{
    query: string;
    toplevel: boolean;
    calls: string;
    total_ms: number;
    rows: string;
  }>(
    `SELECT s.query, s.toplevel, s.calls::text, s.total_exec_time AS total_ms, s.rows::text
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'
        AND s.query NOT LIKE '%pg_stat_activity%' AND s.query NOT LIKE '%pg_current_wal%'`,
  );
  // BEGIN/COMMIT and friends come one row each; statements that differ only in text spacing merge.
  const byLabel = new Map<string, StatementRow>();
  for (const row of rows) {
    const label = `${row.toplevel ? '' : '(nested) '}${statementLabel(row.query)}`;
    const entry = byLabel.get(label) ?? {
      label,
      toplevel: row.toplevel,
      calls: 0,
      totalMs: 0,
      rows: 0,
    };
    entry.calls += Number(row.calls);
    entry.totalMs += row.total_ms;
    entry.rows += Number(row.rows);
    byLabel.set(label, entry);
  }
  return [...byLabel.values()].sort((a, b) => b.calls - a.calls || b.totalMs - a.totalMs);
}

async function main(cleanup: Cleanup): Promise<void> {
  const options = readOptions([]);
  const breakdown = readBreakdownOptions();
  const database = await createBenchDatabase(options.serverUrl);
  cleanup.add(`drop database ${database.name}`, database.drop);
  const redisPrefix = `ratchet-cpu-${randomBytes(4).toString('hex')}`;
  cleanup.add(`delete redis keys ${redisPrefix}:*`, async () => {
    await deleteRedisKeys(options.redisUrl, redisPrefix);
  });
  const db = new Pool({
    connectionString: database.url,
    max: 2,
    application_name: BENCH_APPLICATION_NAME,
  });
  cleanup.add('bench pg pool', () => db.end());
  const statements = await hasStatementStats(db);
  const noop = await startNoopToolServer();
  cleanup.add('noop tool server', noop.close);

  const redisTarget = new URL(options.redisUrl);
  const taps: { name: string; tap: RedisTap }[] = [];
  for (const name of ['api', 'worker']) {
    const tap = await startRedisTap({
      host: redisTarget.hostname || '127.0.0.1',
      port: Number(redisTarget.port) || 6379,
    });
    cleanup.add(`${name} redis tap`, tap.close);
    taps.push({ name, tap });
  }
  const throughTap = (port: number): string => {
    const url = new URL(options.redisUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return url.toString();
  };
  const ratchet = await startRatchet({
    databaseUrl: database.url,
    redisUrl: throughTap(taps[0].tap.port),
    workerRedisUrl: throughTap(taps[1].tap.port),
    redisPrefix,
    noopUrl: noop.url,
    workers: options.workers,
    concurrency: options.concurrency,
    cpuProfileDir: options.cpuProfileDir,
    root: breakdown.root,
    nodeArgs: breakdown.nodeArgs,
  });
  cleanup.add('ratchet processes', ratchet.stop);
  const shape = fanoutShape();
  const client = new RatchetClient(ratchet.baseUrl, ratchet.adminKey, breakdown.responses);
  cleanup.add('client', () => client.close());
  log(
    `${breakdown.root ?? 'this checkout'}: ${breakdown.warmupRounds} untimed and ` +
      `${breakdown.rounds} timed bursts of ${breakdown.responses} x ${shape.name}`,
  );

  const burst = async (): Promise<void> => {
    const answers = await Promise.all(
      Array.from({ length: breakdown.responses }, () => client.create(shape.body)),
    );
    const failed = answers.find((answer) => answer.status !== 'completed');
    if (failed) throw new Error(`response ${failed.id} ${failed.status}`);
  };
  for (let i = 0; i < breakdown.warmupRounds; i++) await burst();

  const pids = async (): Promise<NamedPid[]> => [
    ...ratchet.pids(),
    ...(await postgresBackends(db)),
  ];
  const samples: Sample[] = [];
  for (let i = 0; i < breakdown.rounds; i++) {
    if (statements) await db.query('SELECT pg_stat_statements_reset()');
    taps.forEach(({ tap }) => tap.reset());
    const before = snapshotCpu(await pids());
    const gcBefore = await readGc(ratchet.metricsEndpoints());
    await burst();
    const spent = cpuBetween(before, snapshotCpu(await pids()));
    const collected = gcBetween(gcBefore, await readGc(ratchet.metricsEndpoints()));
    ratchet.assertAlive();
    const steps = breakdown.responses * shape.steps;
    const rows = statements ? await readStatements(db) : [];
    const redis = taps.flatMap(({ name, tap }) =>
      tap.commands().map((command) => ({ process: name, ...command })),
    );
    const redisCommands: Record<string, number> = {};
    for (const { process, count } of redis) {
      redisCommands[process] = (redisCommands[process] ?? 0) + count / steps;
    }
    const sample: Sample = {
      cpuMs: Object.fromEntries([...spent].map(([name, ms]) => [name, ms / steps])),
      pgStatements: statements
        ? rows.filter((row) => row.toplevel).reduce((sum, row) => sum + row.calls, 0) / steps
        : null,
      pgExecMs: statements
        ? rows.filter((row) => row.toplevel).reduce((sum, row) => sum + row.totalMs, 0) / steps
        : null,
      redisCommands,
      jobs:
        redis
          .filter((c) => c.command.endsWith(' moveToFinished'))
          .reduce((sum, c) => sum + c.count, 0) / breakdown.responses,
      statements: rows,
      redis,
      gc: Object.fromEntries(
        [...collected].map(([name, kinds]) => [
          name,
          {
            minor: ((kinds.get('minor')?.count ?? 0) * 1000) / steps,
            major: ((kinds.get('major')?.count ?? 0) * 1000) / steps,
            ms: ([...kinds.values()].reduce((sum, kind) => sum + kind.seconds, 0) * 1000) / steps,
          },
        ]),
      ),
    };
    samples.push(sample);
    const total = Object.values(sample.cpuMs).reduce((a, b) => a + b, 0);
    log(
      `burst ${i + 1}: CPU ${total.toFixed(3)} ms/step (${Object.entries(sample.cpuMs)
        .map(([name, ms]) => `${name} ${ms.toFixed(3)}`)
        .join(', ')}), ${sample.pgStatements?.toFixed(2) ?? '-'} statements/step, ` +
        `${Object.values(redisCommands)
          .reduce((a, b) => a + b, 0)
          .toFixed(2)} Redis commands/step`,
    );
  }
  process.stdout.write(report(breakdown, shape.steps, samples, options.workers));
}

function spread(values: number[], digits = 3): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${median(sorted).toFixed(digits)} (${sorted[0].toFixed(digits)}–${sorted[sorted.length - 1].toFixed(digits)})`;
}

function report(
  options: BreakdownOptions,
  stepsPerResponse: number,
  samples: Sample[],
  workers: number,
): string {
  if (options.json) return `${JSON.stringify({ options, stepsPerResponse, samples })}\n`;
  const steps = options.responses * stepsPerResponse;
  const lines: string[] = [];
  lines.push(
    `${samples.length} bursts of ${options.responses} fan-out responses (${steps} steps each), ` +
      `api + ${workers} worker(s); median per step (range over bursts).`,
    '',
    '| figure | per step |',
    '| --- | ---: |',
  );
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.cpuMs)))].sort();
  for (const name of names) {
    lines.push(`| CPU ms, ${name} | ${spread(samples.map((s) => s.cpuMs[name] ?? 0))} |`);
  }
  lines.push(
    `| CPU ms, all | ${spread(samples.map((s) => Object.values(s.cpuMs).reduce((a, b) => a + b, 0)))} |`,
  );
  if (samples[0].pgStatements !== null) {
    lines.push(
      `| Postgres statements (sent; BEGIN and COMMIT count) | ${spread(
        samples.map((s) => s.pgStatements ?? 0),
        2,
      )} |`,
      `| Postgres execution ms | ${spread(samples.map((s) => s.pgExecMs ?? 0))} |`,
    );
  }
  const processes = [...new Set(samples.flatMap((s) => Object.keys(s.redisCommands)))].sort();
  for (const name of processes) {
    lines.push(
      `| Redis commands, ${name} | ${spread(
        samples.map((s) => s.redisCommands[name] ?? 0),
        2,
      )} |`,
    );
  }
  for (const name of [...new Set(samples.flatMap((s) => Object.keys(s.gc)))].sort()) {
    const of = (pick: (gc: Sample['gc'][string]) => number): number[] =>
      samples.map((s) => (s.gc[name] ? pick(s.gc[name]) : 0));
    lines.push(
      `| scavenges per 1,000 steps, ${name} | ${spread(
        of((gc) => gc.minor),
        1,
      )} |`,
      `| full collections per 1,000 steps, ${name} | ${spread(
        of((gc) => gc.major),
        2,
      )} |`,
      `| collector ms (main thread), ${name} | ${spread(of((gc) => gc.ms))} |`,
    );
  }
  lines.push(
    `| BullMQ jobs per response | ${spread(
      samples.map((s) => s.jobs),
      2,
    )} |`,
  );
  // Statements and commands summed over every burst.
  const total = samples.length * steps;
  if (samples[0].pgStatements !== null) {
    const merged = new Map<string, StatementRow>();
    for (const row of samples.flatMap((s) => s.statements)) {
      const entry = merged.get(row.label) ?? { ...row, calls: 0, totalMs: 0, rows: 0 };
      entry.calls += row.calls;
      entry.totalMs += row.totalMs;
      entry.rows += row.rows;
      merged.set(row.label, entry);
    }
    lines.push(
      '',
      '| statement | calls / step | mean ms | rows / call |',
      '| --- | ---: | ---: | ---: |',
    );
    for (const row of [...merged.values()].sort((a, b) => b.calls - a.calls).slice(0, 30)) {
      lines.push(
        `| \`${row.label.replace(/\|/g, '\\|')}\` | ${(row.calls / total).toFixed(3)} | ` +
          `${(row.totalMs / row.calls).toFixed(3)} | ${(row.rows / row.calls).toFixed(2)} |`,
      );
    }
  }
  const redis = new Map<string, number>();
  for (const row of samples.flatMap((s) => s.redis)) {
    const key = `${row.process}\t${row.command}`;
    redis.set(key, (redis.get(key) ?? 0) + row.count);
  }
  lines.push('', '| process | Redis command | per step |', '| --- | --- | ---: |');
  for (const [key, count] of [...redis].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    const [process, command] = key.split('\t');
    lines.push(`| ${process} | \`${command}\` | ${(count / total).toFixed(3)} |`);
  }
  return `${lines.join('\n')}\n`;
}

const cleanup = new Cleanup();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup.run(log).finally(() => process.exit(130));
  });
}
void main(cleanup)
  .catch((error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.run(log));
