// What the DBOS Transact peer's driver (fanout-dbos.ts) and its process (fanout-dbos-worker.ts)
// say to each other over IPC.

/** The peer's Postgres application name: its backends count apart from ratchet's and the floor's. */
export const FANOUT_DBOS_APPLICATION_NAME = 'ratchet-bench-fanout-dbos';

/** Asks the peer to run workflows all at once (one alone, or a burst) and time them. */
export interface DbosRequest {
  id: number;
  workflows: number;
}

export type DbosMessage =
  | { type: 'ready' }
  | { type: 'done'; id: number; ms: number }
  | { type: 'failed'; id: number; message: string };
