import { Client } from 'pg';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { WorkerProcesses } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';

// Siblings of one round run concurrently, on any worker process: the API here runs no
// worker of its own, and two worker processes from the build share the round. The worker
// that decides the round runs what its free slots allow and queues the rest for any worker.

let tools: FakeTools;
let ratchet: TestRatchet;
// Two job slots each: neither process can take all three siblings alone.
const workers = new WorkerProcesses(() => ({ ...ratchet.env, WORKER_CONCURRENCY: '2' }));

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('workers', {
    workers: 0,
    configYaml: `
models:
  mock: { provider: mock }
tools:
  sleep: { type: http, url: ${tools.url}/sleep }
`,
  });
  await Promise.all([workers.start(), workers.start()]);
});

afterAll(async () => {
  await workers.killAll();
  await ratchet?.close();
  await tools?.close();
});

it('runs three 1-second tool calls of one round at once, across both worker processes', async () => {
  const client = ratchet.client(await ratchet.newKey());
  const sleepCall = '/call sleep {"ms":1000}';
  const started = Date.now();
  const response = await client.responses.create({
    model: 'mock',
    input: [sleepCall, sleepCall, sleepCall].join('\n'),
    tools: [{ type: 'function', name: 'sleep', parameters: null, strict: null }],
  });
  const elapsed = Date.now() - started;

  expect(response.status).toBe('completed');
  expect(response.output_text).toBe(Array(3).fill('sleep: {"slept":1000}').join('\n'));
  expect(tools.maxInFlight()).toBe(3);
  expect(elapsed).toBeLessThan(2500);

  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ executed_by: string; inline: boolean }>(
      `SELECT s.executed_by, s.started_at = p.completed_at AS inline
         FROM steps s JOIN steps p ON p.id = s.prev_step_id
        WHERE s.response_id = $1 AND s.kind = 'tool_call'`,
      [response.id],
    );
    const pids = new Set(rows.map((row) => row.executed_by.split(':')[1]));
    expect(rows).toHaveLength(3);
    expect(pids).toEqual(new Set(workers.all.map((worker) => String(worker.child.pid))));
    // The deciding worker's other slot is not free for a second sibling (one is always left
    // for new jobs): it ran one call in its own slot, claimed as the round was recorded, and
    // queued the other two.
    expect(rows.filter((row) => row.inline)).toHaveLength(1);
  } finally {
    await db.end();
  }
});
