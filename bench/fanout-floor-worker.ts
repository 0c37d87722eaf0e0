import { FlowProducer, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { BASELINE_JOB_OPTIONS } from './baseline-jobs';
import {
  FANOUT_FLOOR_APPLICATION_NAME,
  FANOUT_FLOOR_QUEUE,
  type FanoutFloorJob,
  fanoutFloorJobId,
} from './fanout-floor-jobs';
import { requiredEnv, runBenchChild, serveUntilStopped } from './bench-child';
import { epochMs } from './stats';

// A floor worker process for the fan-out shape: model -> N parallel tools -> model with the
// same building blocks and none of ratchet's logic. Every job does one INSERT through `pg`.
// The first model job adds a BullMQ flow whose children are the tool jobs and whose parent is
// the second model job, so BullMQ itself joins the fan-out: the parent runs once every child
// has completed. Wired like baseline-worker.ts (one shared ioredis connection, a pg pool of 20).
//
// Started by fanout-floor.ts with fork(); says `ready` over IPC, stops on SIGTERM or disconnect.

async function main(): Promise<void> {
  const prefix = requiredEnv('BASELINE_PREFIX');
  const pool = new Pool({
    connectionString: requiredEnv('BASELINE_DATABASE_URL'),
    max: 20,
    application_name: FANOUT_FLOOR_APPLICATION_NAME,
  });
  const connection = new Redis(requiredEnv('BASELINE_REDIS_URL'), { maxRetriesPerRequest: null });
  const flows = new FlowProducer({ connection, prefix });
  const queue = new Queue<FanoutFloorJob>(FANOUT_FLOOR_QUEUE, { connection, prefix });
  const job = (data: FanoutFloorJob) => ({
    name: data.kind,
    queueName: FANOUT_FLOOR_QUEUE,
    data,
    opts: { ...BASELINE_JOB_OPTIONS, jobId: fanoutFloorJobId(data.chain, data.step) },
  });
  const worker = new Worker<FanoutFloorJob>(
    FANOUT_FLOOR_QUEUE,
    async ({ data }) => {
      await pool.query(
        'INSERT INTO fanout_floor_steps (chain, step, started_at) VALUES ($1, $2, $3)',
        [data.chain, data.step, epochMs()],
      );
      if (data.kind === 'model' && data.step === 0) {
        const { chain, calls } = data;
        await flows.add({
          ...job({ kind: 'model', chain, step: calls + 1, calls }),
          children: Array.from({ length: calls }, (_, i) =>
            job({ kind: 'tool', chain, step: i + 1, calls }),
          ),
        });
      }
    },
    { connection, prefix, concurrency: Number(requiredEnv('BASELINE_CONCURRENCY')) },
  );
  worker.on('failed', (failed, error) => {
    process.stderr.write(`fan-out floor job ${failed?.id ?? '?'} failed: ${error.message}\n`);
  });
  await worker.waitUntilReady();
  await pool.query('SELECT 1');

  serveUntilStopped(async () => {
    await worker.close(true);
    await flows.close();
    await queue.close();
    await pool.end();
    connection.disconnect();
  });
}

runBenchChild('fan-out floor worker', main);
