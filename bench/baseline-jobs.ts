import type { JobsOptions } from 'bullmq';

// What the baseline driver and its worker processes share.

export const BASELINE_QUEUE = 'baseline';

/** The baseline workers' Postgres application name, to count their backends apart. */
export const BASELINE_APPLICATION_NAME = 'ratchet-bench-baseline';

export interface BaselineJob {
  chain: number;
  step: number;
  /** Steps in the chain. */
  total: number;
}

/** ratchet's job options (libs/queue/src/job-queue.ts), so both pay the same bookkeeping. */
export const BASELINE_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: 1000,
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
};

/** The scratch table each baseline step inserts one row into. */
export const BASELINE_TABLE_DDL = `CREATE TABLE baseline_steps (
  chain int NOT NULL,
  step int NOT NULL,
  started_at double precision NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (chain, step)
)`;
