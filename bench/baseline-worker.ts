import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import {
  BASELINE_APPLICATION_NAME,
  BASELINE_JOB_OPTIONS,
  BASELINE_QUEUE,
  type BaselineJob,
} from './baseline-jobs';
import { requiredEnv, runBenchChild, serveUntilStopped } from './bench-child';
import { epochMs } from './stats';

// A baseline worker process: what "one durable step" costs with the same building blocks and
// none of ratchet's logic. Each job does one INSERT through `pg` and, unless it ends its chain,
// enqueues the next job of the chain. It is wired like ratchet's worker: one ioredis connection
// shared by the Queue and the Worker (BullMQ duplicates it for blocking reads), a pg pool of
// 20 (the size of ratchet's pool), and the same job options.
//
// Started by baseline.ts with fork(); says `ready` over IPC, stops on SIGTERM or disconnect.

async function main(): Promise<void> {
  const prefix = requiredEnv('BASELINE_PREFIX');
  const pool = new Pool({
    connectionString: requiredEnv('BASELINE_DATABASE_URL'),
    max: 20,
    application_name: BASELINE_APPLICATION_NAME,
  });
  const connection = new Redis(requiredEnv('BASELINE_REDIS_URL'), { maxRetriesPerRequest: null });
  const queue = new Queue<BaselineJob>(BASELINE_QUEUE, { connection, prefix });
  const worker = new Worker<BaselineJob>(
    BASELINE_QUEUE,
    async (job) => {
      const { chain, step, total } = job.data;
      await pool.query('INSERT INTO baseline_steps (chain, step, started_at) VALUES ($1, $2, $3)', [
        chain,
        step,
        epochMs(),
      ]);
      if (step + 1 < total) {
        await queue.add(
          'step',
          { chain, step: step + 1, total },
          { ...BASELINE_JOB_OPTIONS, jobId: `${chain}.${step + 1}` },
        );
      }
    },
    { connection, prefix, concurrency: Number(requiredEnv('BASELINE_CONCURRENCY')) },
  );
  worker.on('failed', (job, error) => {
    process.stderr.write(`baseline job ${job?.id ?? '?'} failed: ${error.message}\n`);
  });
  await worker.waitUntilReady();
  await pool.query('SELECT 1');

  serveUntilStopped(async () => {
    await worker.close(true);
    await queue.close();
    await pool.end();
    connection.disconnect();
  });
}

runBenchChild('baseline worker', main);
