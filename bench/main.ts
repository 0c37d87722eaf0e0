import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { BASELINE_BLOCKS, startBaseline } from './baseline';
import { BASELINE_APPLICATION_NAME } from './baseline-jobs';
import { createBenchDatabase } from './bench-database';
import { Cleanup } from './cleanup';
import { BENCH_APPLICATION_NAME, postgresBackends, snapshotCpu, type CpuProbe } from './cpu';
import { measureFailover, startHangingTool, type FailoverResult } from './failover';
import { FANOUT_DBOS_APPLICATION_NAME } from './fanout-dbos-protocol';
import { FANOUT_FLOOR_APPLICATION_NAME } from './fanout-floor-jobs';
import { FANOUT_CALLS } from './fanout';
import { compareFanout, type FanoutComparison } from './fanout-interleaved';
import { measureLatency, type LatencyResult } from './latency';
import { formatMarkdown } from './markdown';
import { deleteRedisKeys, describeMachine } from './machine';
import { largestByName, privateMb, residentNow } from './memory';
import { startNoopToolServer } from './noop-tool-server';
import { readOptions } from './options';
import { RatchetClient } from './ratchet-client';
import { repoRoot, startRatchet } from './ratchet-processes';
import { renderReport } from './report';
import { measureScaleout, type ScaleoutResult } from './scaleout';
import { latencyShapes, toolLoopShape, toolRoundShape, TOOL_LOOP_ROUNDS } from './shapes';
import { startStreamUpstream } from './stream-upstream';
import { measureStreaming, type StreamingResult } from './streaming';
import { measureThroughput, type ThroughputResult } from './throughput';
import { runTrace } from './trace';

// `npm run bench`: ratchet's per-step overhead and throughput against real Postgres and Redis,
// next to a raw BullMQ + pg floor measured in the same run, and on the fan-out shape a peer,
// DBOS Transact. See docs/benchmarks.md.

/** Responses in the second throughput workload, whose steps are mostly parallel tool calls. */
const PARALLEL_THROUGHPUT_RESPONSES = 100;
/** What the fake streaming upstream sends per reply: deltas, this far apart (ms). */
const STREAM_DELTAS = 40;
const STREAM_INTERVAL_MS = 10;

/** How long ratchet's processes idle after start-up before their memory is read. */
const IDLE_SETTLE_MS = 2_000;
/**
 * When it is read again, settled: V8 runs a full collection of its own a few seconds after
 * start-up's last one once a process is idle (its memory reducer), which gives back the pages
 * start-up's garbage held (docs/memory.md, "Idle, settled").
 */
const IDLE_SETTLED_MS = 15_000;

function formatMb(byKind: Record<string, number>): string {
  return Object.entries(byKind)
    .map(([kind, mb]) => `${kind} ${Math.round(mb)} MB`)
    .join(', ');
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

async function main(cleanup: Cleanup): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const startedAt = new Date();
  const loadAverage = loadavg()[0];
  const database = await createBenchDatabase(options.serverUrl);
  cleanup.add(`drop database ${database.name}`, database.drop);
  log(`database ${database.name} created and migrated`);
  const redisPrefix = `ratchet-bench-${randomBytes(4).toString('hex')}`;
  cleanup.add(`delete redis keys ${redisPrefix}:*`, async () => {
    await deleteRedisKeys(options.redisUrl, redisPrefix);
  });
  const db = new Pool({
    connectionString: database.url,
    max: 4,
    application_name: BENCH_APPLICATION_NAME,
  });
  cleanup.add('bench pg pool', () => db.end());
  const noop = await startNoopToolServer();
  cleanup.add('noop tool server', noop.close);
  const upstream = await startStreamUpstream({
    deltas: STREAM_DELTAS,
    intervalMs: STREAM_INTERVAL_MS,
  });
  cleanup.add('stream upstream', upstream.close);

  const ratchet = await startRatchet({
    databaseUrl: database.url,
    redisUrl: options.redisUrl,
    redisPrefix,
    noopUrl: noop.url,
    streamUpstreamUrl: upstream.baseUrl,
    workers: options.workers,
    concurrency: options.concurrency,
    cpuProfileDir: options.cpuProfileDir,
  });
  const stopRatchet = cleanup.add('ratchet processes', ratchet.stop);
  log(`ratchet is ready at ${ratchet.baseUrl} (${options.workers} worker(s))`);
  const client = new RatchetClient(ratchet.baseUrl, ratchet.adminKey);
  const closeClient = cleanup.add('ratchet client', () => client.close());
  // Idle: started, connected, nothing run yet; a moment to settle after start-up.
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const idleResidentMb = largestByName(residentNow(ratchet.pids()));
  const idlePrivateMb = largestByName(residentNow(ratchet.pids(), privateMb));
  log(`idle resident memory: ${formatMb(idleResidentMb)} (private: ${formatMb(idlePrivateMb)})`);
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLED_MS - IDLE_SETTLE_MS));
  const settledResidentMb = largestByName(residentNow(ratchet.pids()));
  const settledPrivateMb = largestByName(residentNow(ratchet.pids(), privateMb));
  log(
    `idle resident memory, settled: ${formatMb(settledResidentMb)} (private: ${formatMb(settledPrivateMb)})`,
  );

  // The floors' and the peer's backends, while they run beside ratchet, are not ratchet's.
  const cpu: CpuProbe = async () =>
    snapshotCpu([
      ...ratchet.pids(),
      ...(await postgresBackends(db, {
        except: [
          BASELINE_APPLICATION_NAME,
          FANOUT_FLOOR_APPLICATION_NAME,
          FANOUT_DBOS_APPLICATION_NAME,
        ],
      })),
    ]);
  // The baseline runs its sequential chain in blocks between those of ratchet's tool loop, whose
  // step gaps the per-step target compares with it, and its throughput rounds between
  // ratchet's: the host's speed drifts over a run.
  const baseline = await startBaseline(
    {
      databaseUrl: database.url,
      redisUrl: options.redisUrl,
      redisPrefix: `${redisPrefix}:baseline`,
      workers: options.workers,
      concurrency: options.concurrency,
    },
    db,
    cleanup,
    async (workers) =>
      snapshotCpu([
        ...workers,
        ...(await postgresBackends(db, { only: BASELINE_APPLICATION_NAME })),
      ]),
  );
  const baselineBlock = Math.ceil(options.baselineChain / BASELINE_BLOCKS);
  const loopShape = toolLoopShape(TOOL_LOOP_ROUNDS).name;
  const countSteps = async (responseId: string): Promise<number> => {
    const { rows } = await db.query<{ steps: number }>(
      'SELECT count(*)::int AS steps FROM steps WHERE response_id = $1',
      [responseId],
    );
    return rows[0].steps;
  };
  // Postgres's clock: each step's started_at is set by the statement that claims it.
  const stepGaps = async (responseIds: string[]): Promise<number[]> => {
    const { rows } = await db.query<{ starts: number[] }>(
      `SELECT array_agg(extract(epoch FROM started_at) * 1000 ORDER BY started_at)::float8[]
              AS starts
         FROM steps WHERE response_id = ANY($1::text[]) GROUP BY response_id`,
      [responseIds],
    );
    return rows.flatMap(({ starts }) => starts.slice(1).map((start, i) => start - starts[i]));
  };
  const latency: LatencyResult[] = [];
  for (const shape of latencyShapes()) {
    const result = await measureLatency(client, shape, {
      warmup: options.warmup,
      reps: options.reps,
      budgetMs: options.shapeBudgetMs,
      countSteps,
      stepGaps,
      cpu,
      between:
        shape.name === loopShape
          ? {
              every: Math.ceil(options.reps / BASELINE_BLOCKS),
              run: () => baseline.chain(baselineBlock),
            }
          : undefined,
    });
    ratchet.assertAlive();
    log(
      `latency ${shape.name} (${shape.steps} steps): p50 ${result.latency.p50.toFixed(2)} ms, ` +
        `p95 ${result.latency.p95.toFixed(2)} ms over ${result.latency.count}`,
    );
    latency.push(result);
  }

  const throughput: ThroughputResult[] = [];
  // The baseline's rounds of the sequential shape take turns with ratchet's.
  for (const [shape, responses, beside] of [
    [toolRoundShape(1), options.throughputResponses, true],
    [toolRoundShape(9), PARALLEL_THROUGHPUT_RESPONSES, false],
  ] as const) {
    const result = await measureThroughput(
      client,
      db,
      shape,
      responses,
      { timed: options.throughputRounds, warmup: options.throughputWarmupRounds },
      cpu,
      beside
        ? (timed) =>
            baseline.throughputRound({ chains: responses, stepsPerChain: shape.steps, timed })
        : undefined,
    );
    ratchet.assertAlive();
    log(
      `throughput ${responses} x ${shape.name}: ${Math.round(result.stepsPerSecond)} steps/s ` +
        `(rounds ${result.roundsMs.map((v) => Math.round(v)).join(' / ')} ms)`,
    );
    throughput.push(result);
  }

  let fanout: FanoutComparison | null = null;
  if (options.fanoutResponses > 0) {
    fanout = await compareFanout(client, db, cleanup, {
      ratchet: {
        baseUrl: ratchet.baseUrl,
        adminKey: ratchet.adminKey,
        responses: options.fanoutResponses,
        pids: () => ratchet.pids(),
        cpu,
      },
      floor: {
        databaseUrl: database.url,
        redisUrl: options.redisUrl,
        redisPrefix: `${redisPrefix}:fanout-floor`,
        workers: options.workers,
        concurrency: options.concurrency,
      },
      dbos: options.fanoutDbos
        ? { databaseUrl: database.url, calls: FANOUT_CALLS, responses: options.fanoutResponses }
        : null,
      plan: {
        warmup: options.warmup,
        reps: options.reps,
        budgetMs: options.shapeBudgetMs,
        responses: options.fanoutResponses,
        rounds: options.fanoutRounds,
        warmupRounds: options.fanoutWarmupRounds,
        onRound: log,
      },
    });
    ratchet.assertAlive();
    const { ratchet: measured, floor, pairs } = fanout;
    const perPair = pairs.map(
      (pair) =>
        `${Math.round(pair.ratchet.stepsPerSecond)}/${Math.round(pair.floor.stepsPerSecond)}`,
    );
    log(
      `fan-out: per step p50 ${measured.perStepP50.toFixed(2)} ms (floor ` +
        `${floor.perStepP50.toFixed(2)} ms); ${options.fanoutResponses} at once, steps/s ` +
        `ratchet/floor by pair ${perPair.join(', ')}: median ratio ` +
        `${fanout.throughputRatio.toFixed(2)}x; peak ${formatMb(measured.burst.peakResidentMb)} ` +
        `(floor ${formatMb(floor.burst.peakResidentMb)}), WAL ` +
        `${Math.round(measured.burst.walBytesPerResponse)} B/response`,
    );
    if (fanout.dbos) {
      log(
        `fan-out, DBOS Transact: per step p50 ${fanout.dbos.perStepP50.toFixed(2)} ms; ` +
          `${Math.round(fanout.dbos.burst.stepsPerSecond)} steps/s; ratchet's median ratio to ` +
          `it ${fanout.dbos.throughputRatio.toFixed(2)}x; peak ` +
          `${formatMb(fanout.dbos.burst.peakResidentMb)}`,
      );
    }
  }

  let streaming: StreamingResult | null = null;
  if (options.streamResponses > 0) {
    const streamingStarted = Date.now();
    streaming = await measureStreaming(ratchet.baseUrl, ratchet.adminKey, upstream, {
      responses: options.streamResponses,
      replayEvents: options.streamEvents,
    });
    ratchet.assertAlive();
    const replay = streaming.replay.rows[0];
    log(
      `streaming: delta p50 ${streaming.ratchet.p50.toFixed(2)} ms / p99 ` +
        `${streaming.ratchet.p99.toFixed(2)} ms (direct ${streaming.direct.p50.toFixed(2)} / ` +
        `${streaming.direct.p99.toFixed(2)} ms); replay of ${replay.events} events ` +
        `${Math.round(replay.medianMs)} ms (${Math.round((Date.now() - streamingStarted) / 1000)} s)`,
    );
  }
  // The trace gets the machine to itself.
  await closeClient();
  await stopRatchet();

  // A tool loop cut short by its time budget ran fewer blocks: the chain gets its full length.
  while (baseline.sequential().chainSteps < options.baselineChain) {
    await baseline.chain(baselineBlock);
  }
  const baselineResult = { ...baseline.sequential(), throughput: baseline.throughput() };
  await baseline.stop();
  log(
    `baseline: per step p50 ${baselineResult.perStep.p50.toFixed(2)} ms, ` +
      `${Math.round(baselineResult.throughput.stepsPerSecond)} steps/s`,
  );

  let trace = null;
  if (options.traceResponses > 0) {
    trace = await runTrace(
      {
        databaseUrl: database.url,
        redisUrl: options.redisUrl,
        redisPrefix: `${redisPrefix}:trace`,
        noopUrl: noop.url,
        concurrency: options.concurrency,
        responses: options.traceResponses,
        warmup: Math.min(options.warmup, 20),
      },
      cleanup,
    );
    log(`trace: ${trace.processes.map((p) => `${p.name} ${p.pgRoundTrips} pg`).join(', ')}`);
  }

  let failover: FailoverResult | null = null;
  if (options.failoverKills > 0) {
    const hang = await startHangingTool();
    const closeHang = cleanup.add('hanging tool', hang.close);
    const processes = await startRatchet({
      databaseUrl: database.url,
      redisUrl: options.redisUrl,
      redisPrefix: `${redisPrefix}:failover`,
      noopUrl: noop.url,
      hangUrl: hang.url,
      workers: 2,
      concurrency: options.concurrency,
    });
    const stopProcesses = cleanup.add('failover ratchet processes', processes.stop);
    const failoverClient = new RatchetClient(processes.baseUrl, processes.adminKey);
    const closeFailoverClient = cleanup.add('failover client', () => failoverClient.close());
    failover = await measureFailover(failoverClient, db, processes, hang, options.failoverKills);
    processes.assertAlive();
    log(
      `failover: kill to rerun p50 ${Math.round(failover.killToRerun.p50)} ms, ` +
        `p95 ${Math.round(failover.killToRerun.p95)} ms over ${failover.killToRerun.count} ` +
        `steps of ${failover.kills} kills`,
    );
    await closeFailoverClient();
    await stopProcesses();
    await closeHang();
  }

  let scaleout: ScaleoutResult | null = null;
  if (options.scaleoutResponses > 0) {
    // A database of its own: the rows and dead tuples the bursts above left (and the vacuum
    // they set off) would otherwise slow the later rounds, and more workers need more of it.
    const scaleDatabase = await createBenchDatabase(options.serverUrl);
    cleanup.add(`drop database ${scaleDatabase.name}`, scaleDatabase.drop);
    const scaleDb = new Pool({
      connectionString: scaleDatabase.url,
      max: 4,
      application_name: BENCH_APPLICATION_NAME,
    });
    const closeScaleDb = cleanup.add('scale-out pg pool', () => scaleDb.end());
    const processes = await startRatchet({
      databaseUrl: scaleDatabase.url,
      redisUrl: options.redisUrl,
      redisPrefix: `${redisPrefix}:scaleout`,
      noopUrl: noop.url,
      slowUrl: noop.slowUrl,
      workers: 1,
      concurrency: options.scaleoutConcurrency,
    });
    const stopProcesses = cleanup.add('scale-out ratchet processes', processes.stop);
    const scaleClient = new RatchetClient(processes.baseUrl, processes.adminKey);
    const closeScaleClient = cleanup.add('scale-out client', () => scaleClient.close());
    scaleout = await measureScaleout(processes, scaleClient, scaleDb, {
      responses: options.scaleoutResponses,
      concurrency: options.scaleoutConcurrency,
      cpu: async () => snapshotCpu([...processes.pids(), ...(await postgresBackends(scaleDb))]),
      log,
    });
    await closeScaleClient();
    await stopProcesses();
    await closeScaleDb();
  }

  const file = path.join(repoRoot, 'docs', 'benchmarks.md');
  const report = renderReport({
    machine: await describeMachine(database.url, options.redisUrl),
    options,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    loadAverage,
    latency,
    throughput,
    streaming,
    baseline: baselineResult,
    idleResidentMb,
    idlePrivateMb,
    settledResidentMb,
    settledPrivateMb,
    fanout,
    trace,
    failover,
    scaleout,
  });
  const markdown = await formatMarkdown(report, file);
  process.stdout.write(markdown);
  if (options.write) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, markdown);
    log(`wrote ${path.relative(repoRoot, file)}`);
  }
}

const cleanup = new Cleanup();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping`);
    void cleanup.run(log).finally(() => process.exit(130));
  });
}
const started = Date.now();
void main(cleanup)
  .catch((error: unknown) => {
    if (!interrupted) log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup.run(log);
    log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
  });
