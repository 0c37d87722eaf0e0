import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { forkBenchProcess, type BenchProcess } from './bench-process';
import type { Cleanup } from './cleanup';
import { addCpu, cpuBetween, cpuPer, type CpuSnapshot, type NamedPid } from './cpu';
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

/** Blocks of the sequential chain, run between as many blocks of ratchet's tool loop. */
export const BASELINE_BLOCKS = 5;
const WARMUP_CHAIN_STEPS = 100;

export interface BaselineSettings {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  workers: number;
  concurrency: number;
}

export interface BaselineResult {
  /** Time from one step's start to the next's in chains of `chainSteps` jobs in all, ms. */
  perStep: Summary;
  chainSteps: number;
  /** CPU ms per step of the sequential chains, by process kind (worker, postgres). */
  sequentialCpuPerStep: Record<string, number>;
  /** Like ratchet's throughput workload: `chains` chains of `stepsPerChain` jobs at once. */
  throughput: BaselineThroughput;
}

export interface BaselineThroughput {
  chains: number;
  stepsPerChain: number;
  roundsMs: number[];
  wallMs: number;
  stepsPerSecond: number;
  cpuPerStep: Record<string, number>;
}

/**
 * The floor's worker processes, started and warmed up. Its sequential chains run in blocks
 * between ratchet's responses, and its throughput rounds between ratchet's, so both are
 * measured over the same stretch of a host whose speed drifts.
 */
export interface Baseline {
  /** Runs one chain of `steps` jobs, one after another, and keeps its step gaps and CPU. */
  chain(steps: number): Promise<void>;
  /** The chains run so far. */
  sequential(): Pick<BaselineResult, 'perStep' | 'chainSteps' | 'sequentialCpuPerStep'>;
  /**
   * One round of `chains` chains of `stepsPerChain` jobs at once; a timed one is kept for
   * `throughput()`.
   */
  throughputRound(workload: {
    chains: number;
    stepsPerChain: number;
    timed: boolean;
  }): Promise<void>;
  /** The timed throughput rounds run so far. */
  throughput(): BaselineThroughput;
  stop(): Promise<void>;
}

export async function startBaseline(
  settings: BaselineSettings,
  db: Pool,
  cleanup: Cleanup,
  /** A CPU snapshot of these worker processes and of the floor's Postgres backends. */
  cpu: (workers: NamedPid[]) => Promise<CpuSnapshot>,
): Promise<Baseline> {
  await db.query(BASELINE_TABLE_DDL);
  const workers: BaselineWorker[] = [];
  const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<BaselineJob>(BASELINE_QUEUE, {
    connection,
    prefix: settings.redisPrefix,
  });
  const stop = cleanup.add('baseline workers', async () => {
    await queue.close();
    connection.disconnect();
    await Promise.all(workers.map((worker) => worker.stop()));
  });
  for (let i = 0; i < settings.workers; i++) workers.push(await startBaselineWorker(settings));
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
  const warmup = await startChains(1, WARMUP_CHAIN_STEPS);
  await waitForSteps(db, warmup, WARMUP_CHAIN_STEPS);

  const gaps: number[] = [];
  const roundsMs: number[] = [];
  const throughputCpu = new Map<string, number>();
  let shape = { chains: 0, stepsPerChain: 0 };
  const sequentialCpu = new Map<string, number>();
  let chainSteps = 0;
  return {
    chain: async (steps) => {
      const before = await snapshot();
      const [chain] = await startChains(1, steps);
      await waitForSteps(db, [chain], steps);
      addCpu(sequentialCpu, cpuBetween(before, await snapshot()));
      const { rows } = await db.query<{ started_at: number }>(
        'SELECT started_at FROM baseline_steps WHERE chain = $1 ORDER BY step',
        [chain],
      );
      gaps.push(...rows.slice(1).map((row, i) => row.started_at - rows[i].started_at));
      chainSteps += steps;
    },
    sequential: () => ({
      perStep: summarize(gaps),
      chainSteps,
      sequentialCpuPerStep: cpuPer(sequentialCpu, chainSteps),
    }),
    throughputRound: async ({ chains, stepsPerChain, timed }) => {
      const before = await snapshot();
      const startedAt = Date.now();
      const started = await startChains(chains, stepsPerChain);
      const last = await waitForSteps(db, started, stepsPerChain);
      if (!timed) return;
      addCpu(throughputCpu, cpuBetween(before, await snapshot()));
      roundsMs.push(last.getTime() - startedAt);
      shape = { chains, stepsPerChain };
    },
    throughput: () => {
      const wallMs = median(roundsMs);
      const steps = shape.chains * shape.stepsPerChain;
      return {
        ...shape,
        roundsMs,
        wallMs,
        stepsPerSecond: (steps / wallMs) * 1000,
        cpuPerStep: cpuPer(throughputCpu, steps * roundsMs.length),
      };
    },
    stop,
  };
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
