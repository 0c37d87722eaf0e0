import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { forkBenchProcess, type BenchProcess } from './bench-process';
import type { Cleanup } from './cleanup';
import { cpuBetween, cpuPer, type CpuSnapshot, type NamedPid } from './cpu';
import {
  BASELINE_JOB_OPTIONS,
  BASELINE_QUEUE,
  BASELINE_TABLE_DDL,
  type BaselineJob,
} from './baseline-jobs';
import { median, summarize, type Summary } from './stats';
import { pollUntil } from './waits';

// Workload c: the floor. Raw BullMQ + pg doing one job and one INSERT per step, in worker
// processes of their own (as many, with the same concurrency, as ratchet's workers), driven
// from this process like ratchet's workers are driven by its API.

const CHAIN_TIMEOUT_MS = 60_000;
const WARMUP_CHAIN_STEPS = 100;

export interface BaselineSettings {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  workers: number;
  concurrency: number;
}

export interface BaselineResult {
  /** Time from one step's start to the next's in a chain of `chainSteps` jobs, ms. */
  perStep: Summary;
  chainSteps: number;
  /** CPU ms per step of the sequential chain, by process kind (worker, postgres). */
  sequentialCpuPerStep: Record<string, number>;
  /** Like ratchet's throughput workload: `chains` chains of `stepsPerChain` jobs at once. */
  throughput: {
    chains: number;
    stepsPerChain: number;
    roundsMs: number[];
    wallMs: number;
    stepsPerSecond: number;
    cpuPerStep: Record<string, number>;
  };
}

export async function runBaseline(
  settings: BaselineSettings,
  db: Pool,
  workload: {
    chainSteps: number;
    chains: number;
    stepsPerChain: number;
    rounds: number;
    warmupRounds: number;
  },
  cleanup: Cleanup,
  /** A CPU snapshot of these worker processes and of the Postgres backends. */
  cpu: (workers: NamedPid[]) => Promise<CpuSnapshot>,
): Promise<BaselineResult> {
  await db.query(BASELINE_TABLE_DDL);
  const workers: BaselineWorker[] = [];
  const stopWorkers = cleanup.add('baseline workers', async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
  });
  for (let i = 0; i < settings.workers; i++) workers.push(await startBaselineWorker(settings));
  const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<BaselineJob>(BASELINE_QUEUE, {
    connection,
    prefix: settings.redisPrefix,
  });
  let nextChain = 0;
  const startChains = async (count: number, total: number): Promise<number[]> => {
    const chains = Array.from({ length: count }, () => nextChain++);
    await queue.addBulk(
      chains.map((chain) => ({
        name: 'step',
        data: { chain, step: 0, total },
        opts: { ...BASELINE_JOB_OPTIONS, jobId: `${chain}.0` },
      })),
    );
    return chains;
  };
  const snapshot = (): Promise<CpuSnapshot> =>
    cpu(workers.map((worker) => ({ name: 'worker', pid: worker.pid })));
  try {
    const warmup = await startChains(1, WARMUP_CHAIN_STEPS);
    await waitForSteps(db, warmup, WARMUP_CHAIN_STEPS);

    const sequentialBefore = await snapshot();
    const [chain] = await startChains(1, workload.chainSteps);
    await waitForSteps(db, [chain], workload.chainSteps);
    const sequentialCpu = cpuBetween(sequentialBefore, await snapshot());
    const { rows } = await db.query<{ started_at: number }>(
      'SELECT started_at FROM baseline_steps WHERE chain = $1 ORDER BY step',
      [chain],
    );
    const gaps = rows.slice(1).map((row, i) => row.started_at - rows[i].started_at);

    const runRound = async (): Promise<number> => {
      const startedAt = Date.now();
      const chains = await startChains(workload.chains, workload.stepsPerChain);
      const last = await waitForSteps(db, chains, workload.stepsPerChain);
      return last.getTime() - startedAt;
    };
    for (let round = 0; round < workload.warmupRounds; round++) await runRound();
    const roundsMs: number[] = [];
    const throughputBefore = await snapshot();
    for (let round = 0; round < workload.rounds; round++) roundsMs.push(await runRound());
    const throughputCpu = cpuBetween(throughputBefore, await snapshot());
    const wallMs = median(roundsMs);
    const steps = workload.chains * workload.stepsPerChain;
    return {
      perStep: summarize(gaps),
      chainSteps: workload.chainSteps,
      sequentialCpuPerStep: cpuPer(sequentialCpu, workload.chainSteps),
      throughput: {
        chains: workload.chains,
        stepsPerChain: workload.stepsPerChain,
        roundsMs,
        wallMs,
        stepsPerSecond: (steps / wallMs) * 1000,
        cpuPerStep: cpuPer(throughputCpu, steps * workload.rounds),
      },
    };
  } finally {
    await queue.close();
    connection.disconnect();
    await stopWorkers();
  }
}

/** Waits until every chain has all its rows; returns when the last row was inserted. */
async function waitForSteps(db: Pool, chains: number[], stepsPerChain: number): Promise<Date> {
  const expected = chains.length * stepsPerChain;
  return pollUntil(
    `baseline: ${expected} steps`,
    async () => {
      const { rows } = await db.query<{ steps: number; last: Date | null }>(
        `SELECT count(*)::int AS steps, max(inserted_at) AS last
           FROM baseline_steps WHERE chain = ANY($1::int[])`,
        [chains],
      );
      return rows[0].steps === expected ? rows[0].last : null;
    },
    { timeoutMs: CHAIN_TIMEOUT_MS, intervalMs: 20 },
  );
}

export type BaselineWorker = Pick<BenchProcess, 'pid' | 'stop'>;

/** Forks a floor worker process (`script`, beside this file once compiled) and waits for it. */
export function startBaselineWorker(
  settings: BaselineSettings,
  script = 'baseline-worker.js',
): Promise<BaselineWorker> {
  return forkBenchProcess(script, {
    BASELINE_DATABASE_URL: settings.databaseUrl,
    BASELINE_REDIS_URL: settings.redisUrl,
    BASELINE_PREFIX: settings.redisPrefix,
    BASELINE_CONCURRENCY: String(settings.concurrency),
  });
}
