import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { startBaselineWorker, type BaselineSettings, type BaselineWorker } from './baseline';
import { BASELINE_JOB_OPTIONS } from './baseline-jobs';
import type { Cleanup } from './cleanup';
import { postgresBackends, snapshotCpu, type NamedPid } from './cpu';
import type { FanoutSystem } from './fanout';
import {
  FANOUT_FLOOR_APPLICATION_NAME,
  FANOUT_FLOOR_QUEUE,
  FANOUT_FLOOR_TABLE_DDL,
  fanoutFloorJobId,
  type FanoutFloorJob,
} from './fanout-floor-jobs';
import { nowMs } from './stats';
import { pollUntil, withDeadline } from './waits';

// The floor of workload d: raw BullMQ + pg running model -> N tools -> model, the fan-out
// joined by a BullMQ flow (bench/fanout-floor-worker.ts), measured as ratchet is: one chain at
// a time end to end at its client (here, the completion event of the last job), then bursts.

const CHAIN_TIMEOUT_MS = 10_000;
const BURST_TIMEOUT_MS = 120_000;

export interface FanoutFloorWorkload {
  calls: number;
  /** Chains per burst. */
  responses: number;
}

/** Starts the floor's worker processes and its driver: the floor as a FanoutSystem until stopped. */
export async function startFanoutFloor(
  settings: BaselineSettings,
  db: Pool,
  workload: FanoutFloorWorkload,
  cleanup: Cleanup,
): Promise<FanoutSystem & { stop(): Promise<void> }> {
  await db.query(FANOUT_FLOOR_TABLE_DDL);
  const workers: BaselineWorker[] = [];
  const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<FanoutFloorJob>(FANOUT_FLOOR_QUEUE, {
    connection,
    prefix: settings.redisPrefix,
  });
  const events = new QueueEvents(FANOUT_FLOOR_QUEUE, {
    connection: { url: settings.redisUrl },
    prefix: settings.redisPrefix,
  });
  const stop = cleanup.add('fan-out floor', async () => {
    await events.close();
    await queue.close();
    connection.disconnect();
    await Promise.all(workers.map((worker) => worker.stop()));
  });
  try {
    for (let i = 0; i < settings.workers; i++) {
      workers.push(await startBaselineWorker(settings, 'fanout-floor-worker.js'));
    }
    await events.waitUntilReady();
  } catch (error) {
    await stop();
    throw error;
  }
  const pids = (): NamedPid[] => workers.map((worker) => ({ name: 'worker', pid: worker.pid }));
  const steps = workload.calls + 2;
  const lastStep = workload.calls + 1;
  const waiting = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => waiting.get(jobId)?.());
  let nextChain = 0;
  const start = (chains: number[]) =>
    queue.addBulk(
      chains.map((chain) => ({
        name: 'model',
        data: { kind: 'model' as const, chain, step: 0, calls: workload.calls },
        opts: { ...BASELINE_JOB_OPTIONS, jobId: fanoutFloorJobId(chain, 0) },
      })),
    );
  const runBurst = async (): Promise<number> => {
    const chains = Array.from({ length: workload.responses }, () => nextChain++);
    const startedAt = Date.now();
    await start(chains);
    const last = await pollUntil(
      `fan-out floor: ${chains.length} chains`,
      async () => {
        const { rows } = await db.query<{ ended: number; last: Date | null }>(
          `SELECT count(*)::int AS ended, max(inserted_at) AS last
             FROM fanout_floor_steps WHERE chain = ANY($1::int[]) AND step = $2`,
          [chains, lastStep],
        );
        return rows[0].ended === chains.length ? rows[0].last : null;
      },
      { timeoutMs: BURST_TIMEOUT_MS, intervalMs: 20 },
    );
    const { rows } = await db.query<{ steps: number }>(
      'SELECT count(*)::int AS steps FROM fanout_floor_steps WHERE chain = ANY($1::int[])',
      [chains],
    );
    if (rows[0].steps !== chains.length * steps) {
      throw new Error(
        `fan-out floor recorded ${rows[0].steps} steps, expected ${chains.length * steps}`,
      );
    }
    return (last?.getTime() ?? Date.now()) - startedAt;
  };
  return {
    steps,
    runOne: async () => {
      const chain = nextChain++;
      const lastJob = fanoutFloorJobId(chain, lastStep);
      const done = new Promise<void>((resolve) => waiting.set(lastJob, resolve));
      const startedAt = nowMs();
      await start([chain]);
      await withDeadline(done, CHAIN_TIMEOUT_MS, `fan-out floor chain ${chain}`);
      waiting.delete(lastJob);
      return nowMs() - startedAt;
    },
    // Its client's one Redis connection is open already.
    openBurst: async () => ({ run: runBurst, close: async () => undefined }),
    pids,
    cpu: async () =>
      snapshotCpu([
        ...pids(),
        ...(await postgresBackends(db, { only: FANOUT_FLOOR_APPLICATION_NAME })),
      ]),
    stop,
  };
}
