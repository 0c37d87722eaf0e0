import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';
import { forkBenchProcess } from './bench-process';
import type { Cleanup } from './cleanup';
import { postgresBackends, snapshotCpu, type NamedPid } from './cpu';
import type { FanoutSystem } from './fanout';
import {
  FANOUT_DBOS_APPLICATION_NAME,
  type DbosMessage,
  type DbosRequest,
} from './fanout-dbos-protocol';
import { withDeadline } from './waits';

// DBOS Transact as a peer on workload d (bench/fanout-dbos-worker.ts runs it), driven as a
// FanoutSystem: one workflow at a time, then bursts, each timed by DBOS's own client.

const ONE_TIMEOUT_MS = 10_000;
const BURST_TIMEOUT_MS = 120_000;

export interface FanoutDbosSettings {
  /** The bench database: DBOS keeps its system tables there, in a schema of its own. */
  databaseUrl: string;
  calls: number;
  /** Workflows per burst. */
  responses: number;
}

/** Starts the DBOS peer's process: a FanoutSystem until stopped. */
export async function startFanoutDbos(
  settings: FanoutDbosSettings,
  db: Pool,
  cleanup: Cleanup,
): Promise<FanoutSystem & { version: string; stop(): Promise<void> }> {
  const peer = await forkBenchProcess('fanout-dbos-worker.js', {
    DBOS_DATABASE_URL: settings.databaseUrl,
    DBOS_CALLS: String(settings.calls),
  });
  const stop = cleanup.add('fan-out DBOS peer', () => peer.stop());
  const pending = new Map<number, { resolve(ms: number): void; reject(error: Error): void }>();
  peer.child.on('message', (message: DbosMessage) => {
    if (message.type === 'ready') return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.type === 'done') waiter?.resolve(message.ms);
    else waiter?.reject(new Error(`DBOS peer: ${message.message}`));
  });
  peer.child.once('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`DBOS peer exited (${code})`));
    pending.clear();
  });
  let nextId = 0;
  /** Asks the peer to run `workflows` at once; the time its client took, ms. */
  const run = (workflows: number, timeoutMs: number) => {
    const request: DbosRequest = { id: nextId++, workflows };
    const answered = new Promise<number>((resolve, reject) =>
      pending.set(request.id, { resolve, reject }),
    );
    peer.child.send(request);
    return withDeadline(answered, timeoutMs, `DBOS peer: ${workflows} workflow(s)`);
  };
  // Its one process is its worker, and its client too.
  const pids = (): NamedPid[] => [{ name: 'worker', pid: peer.pid }];
  return {
    version: dbosVersion(),
    steps: settings.calls + 2,
    runOne: () => run(1, ONE_TIMEOUT_MS),
    // Its client is in its own process, with nothing to open.
    openBurst: async () => ({
      run: () => run(settings.responses, BURST_TIMEOUT_MS),
      close: async () => undefined,
    }),
    pids,
    cpu: async () =>
      snapshotCpu([
        ...pids(),
        ...(await postgresBackends(db, { only: FANOUT_DBOS_APPLICATION_NAME })),
      ]),
    stop,
  };
}

/** The installed DBOS Transact's version (its package exports no package.json). */
function dbosVersion(): string {
  const entry = require.resolve('@dbos-inc/dbos-sdk');
  const manifest = path.join(entry.slice(0, entry.lastIndexOf('/dist/')), 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
