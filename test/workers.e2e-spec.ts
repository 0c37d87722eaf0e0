import { Client } from 'pg';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startProcess, waitForOutput, type ServiceProcess } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';

// Siblings of one round run concurrently, on any worker process: the API here runs no
// worker of its own, and two worker processes from the build share the round.

let tools: FakeTools;
let ratchet: TestRatchet;
const workers: ServiceProcess[] = [];

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
  // Two job slots each: neither process can take all three siblings alone.
  for (let i = 0; i < 2; i++) {
    workers.push(
      startProcess('dist/apps/worker/main.js', { ...ratchet.env, WORKER_CONCURRENCY: '2' }),
    );
  }
  await Promise.all(workers.map((worker) => waitForOutput(worker, 'processing jobs')));
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop('SIGKILL')));
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
    const { rows } = await db.query<{ executed_by: string }>(
      `SELECT executed_by FROM steps WHERE response_id = $1 AND kind = 'tool_call'`,
      [response.id],
    );
    const pids = new Set(rows.map((row) => row.executed_by.split(':')[1]));
    expect(rows).toHaveLength(3);
    expect(pids).toEqual(new Set(workers.map((worker) => String(worker.child.pid))));
  } finally {
    await db.end();
  }
});
