import { DBOS } from '@dbos-inc/dbos-sdk';
import { Pool } from 'pg';
import {
  FANOUT_DBOS_APPLICATION_NAME,
  type DbosMessage,
  type DbosRequest,
} from './fanout-dbos-protocol';
import { requiredEnv, runBenchChild, serveUntilStopped } from './bench-child';
import { nowMs } from './stats';

// A peer of ratchet on workload d: DBOS Transact, the durable workflow library that checkpoints
// every step in Postgres. One workflow is model -> N parallel steps -> model, each step instant
// (ratchet's tools answer over HTTP; these are in-process functions). DBOS's client is its own
// process: workflows are started with DBOS.startWorkflow and awaited where they run, with no
// HTTP or queue hop before them, and timed there. Its system database is the bench database
// (schema `dbos`), through a pg pool of 20 like the floor's.
//
// Started by fanout-dbos.ts with fork(); says `ready` over IPC, runs what it is asked, stops
// on SIGTERM or disconnect.

const calls = Number(requiredEnv('DBOS_CALLS'));
const model = (): Promise<string> => Promise.resolve('model');
const tool = (i: number): Promise<string> => Promise.resolve(`tool ${i}`);

const fanout = DBOS.registerWorkflow(
  async (n: number): Promise<number> => {
    await DBOS.runStep(model, { name: 'model' });
    await Promise.all(
      Array.from({ length: calls }, (_, i) => DBOS.runStep(() => tool(i), { name: 'tool' })),
    );
    await DBOS.runStep(model, { name: 'model' });
    return n;
  },
  { name: 'fanout' },
);

async function main(): Promise<void> {
  const pool = new Pool({
    connectionString: requiredEnv('DBOS_DATABASE_URL'),
    max: 20,
    application_name: FANOUT_DBOS_APPLICATION_NAME,
  });
  DBOS.setConfig({ name: 'ratchet-bench-fanout', systemDatabasePool: pool, logLevel: 'error' });
  await DBOS.launch();

  let next = 0;
  const workflowId = (n: number): string => `fanout-${n}`;
  /** Throws unless each workflow returned its own number and checkpointed every step. */
  const check = async (first: number, results: number[]): Promise<void> => {
    const wrong = results.findIndex((result, i) => result !== first + i);
    if (wrong >= 0) throw new Error(`workflow ${first + wrong} returned ${results[wrong]}`);
    const ids = results.map(workflowId);
    const { rows } = await pool.query<{ steps: number }>(
      'SELECT count(*)::int AS steps FROM dbos.operation_outputs WHERE workflow_uuid = ANY($1)',
      [ids],
    );
    const expected = results.length * (calls + 2);
    if (rows[0].steps !== expected) {
      throw new Error(`DBOS recorded ${rows[0].steps} steps, expected ${expected}`);
    }
  };
  const run = async ({ workflows }: DbosRequest): Promise<number> => {
    const first = next;
    next += workflows;
    const numbers = Array.from({ length: workflows }, (_, i) => first + i);
    const startedAt = nowMs();
    const handles = await Promise.all(
      numbers.map((n) => DBOS.startWorkflow(fanout, { workflowID: workflowId(n) })(n)),
    );
    const results = await Promise.all(handles.map((handle) => handle.getResult()));
    const ms = nowMs() - startedAt;
    await check(first, results);
    return ms;
  };
  const send = (message: DbosMessage): void => {
    process.send?.(message);
  };
  process.on('message', (request: DbosRequest) => {
    run(request).then(
      (ms) => send({ type: 'done', id: request.id, ms }),
      (error: unknown) =>
        send({ type: 'failed', id: request.id, message: (error as Error).message }),
    );
  });

  serveUntilStopped(async () => {
    await DBOS.shutdown();
    await pool.end();
  });
}

runBenchChild('fan-out DBOS peer', main);
