// What the fan-out floor's driver and its worker processes share.

export const FANOUT_FLOOR_QUEUE = 'fanout-floor';

/**
 * The workers' Postgres application name: their backends serve the bench database beside
 * ratchet's while the two take turns (bench/fanout-interleaved.ts), and count apart by it.
 */
export const FANOUT_FLOOR_APPLICATION_NAME = 'ratchet-bench-fanout-floor';

export interface FanoutFloorJob {
  kind: 'model' | 'tool';
  chain: number;
  /** 0 for the first model job, 1..calls for the tools, calls + 1 for the last model job. */
  step: number;
  /** Tool calls in the round. */
  calls: number;
}

export function fanoutFloorJobId(chain: number, step: number): string {
  return `${chain}.${step}`;
}

/** The scratch table each floor job inserts one row into. */
export const FANOUT_FLOOR_TABLE_DDL = `CREATE TABLE fanout_floor_steps (
  chain int NOT NULL,
  step int NOT NULL,
  started_at double precision NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (chain, step)
)`;
