import type OpenAI from 'openai';
import { Client } from 'pg';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { WorkerProcesses } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { waitFor } from './support/wait';

// Siblings of one round run concurrently, on any worker process: the API here runs no
// worker of its own, and two worker processes from the build share the round. The worker
// that decides the round runs what its free slots allow and queues the rest for any worker,
// unless jobs wait in the queue already: then no worker is idle, and it keeps them.

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
    const rows = await toolSteps(db, response.id);
    const pids = new Set(rows.map((row) => row.executed_by.split(':')[1]));
    expect(rows).toHaveLength(3);
    expect(pids).toEqual(new Set(workers.all.map((worker) => String(worker.child.pid))));
    // The deciding worker's other slot is not free for a second sibling (one is always left
    // for new jobs): it ran one call in its own slot, claimed as the round was recorded. It
    // kept the other two in line for that slot, and handed them to the queue when it did not
    // come free within their wait; the other worker ran them, at their first attempt.
    expect(rows.filter((row) => row.inline)).toHaveLength(1);
    expect(rows.map((row) => row.attempt)).toEqual([1, 1, 1]);
  } finally {
    await db.end();
  }
});

it("runs a busy worker's quick siblings one after another in its own slot, with no queue hop", async () => {
  const client = ratchet.client(await ratchet.newKey());
  const quickCall = '/call sleep {"ms":1}';
  const response = await client.responses.create({
    model: 'mock',
    input: [quickCall, quickCall, quickCall].join('\n'),
    tools: [{ type: 'function', name: 'sleep', parameters: null, strict: null }],
  });
  expect(response.status).toBe('completed');
  expect(response.output_text).toBe(Array(3).fill('sleep: {"slept":1}').join('\n'));

  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const rows = await toolSteps(db, response.id);
    // All three were claimed as the round was recorded, by the worker that decided it, and
    // ran there: each took the job's slot as the one before it finished.
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((row) => row.executed_by)).size).toBe(1);
    expect(rows.map((row) => [row.inline, row.attempt])).toEqual([
      [true, 1],
      [true, 1],
      [true, 1],
    ]);
  } finally {
    await db.end();
  }
});

it("records a busy worker's siblings run one after another with the next model call, in one statement", async () => {
  const client = ratchet.client(await ratchet.newKey());
  // Four calls of 10 ms in one slot: the last ends some 30 ms after the first (past a hold of
  // 20 ms counted from the first outcome), each within 20 ms of its own start, and the last
  // starts some 30 ms after the round, well within the 50 ms a kept sibling waits for a slot
  // before it goes to the queue.
  const call = '/call sleep {"ms":10}';
  const response = await client.responses.create({
    model: 'mock',
    input: Array(4).fill(call).join('\n'),
    tools: [{ type: 'function', name: 'sleep', parameters: null, strict: null }],
  });
  expect(response.status).toBe('completed');

  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    // Timestamps to the microsecond: a statement's now() is the same in every row it writes.
    const { rows } = await db.query<{ inline: boolean; recorded_with_next: boolean }>(
      `SELECT s.started_at = p.completed_at AS inline,
              s.completed_at = n.started_at AS recorded_with_next
         FROM steps s
              JOIN steps p ON p.scope_id = s.scope_id AND p.round = s.round - 1
              JOIN steps n ON n.scope_id = s.scope_id AND n.round = s.round + 1 AND n.index = 0
        WHERE s.response_id = $1 AND s.kind = 'tool_call'
        ORDER BY s.index`,
      [response.id],
    );
    // The worker ran them all, one after another, and held each outcome until the last: the
    // statement that claimed the next model call wrote all four.
    expect(rows).toEqual(Array(4).fill({ inline: true, recorded_with_next: true }));
    const slept = await db.query<{ spread_ms: number }>(
      `SELECT (extract(epoch FROM max(completed_at) - min(started_at)) * 1000)::float8 AS spread_ms
         FROM steps WHERE response_id = $1 AND kind = 'tool_call'`,
      [response.id],
    );
    // They ran one after another, not at once.
    expect(slept.rows[0].spread_ms).toBeGreaterThan(4 * 10);
  } finally {
    await db.end();
  }
});

it("keeps a busy worker's siblings past their wait while jobs wait in the queue", async () => {
  // One worker process from here on: two slots, one for the round's job, one left to BullMQ.
  await workers.all[1].stop('SIGKILL');
  const client = ratchet.client(await ratchet.newKey());
  const call = '/call sleep {"ms":300}';
  // Queued while the round's first model call runs: one takes the other slot, two wait.
  const { round, blockers } = await roundBeforeBlockers(client, ['/sleep 300', call, call, call]);

  const done = await waitForResponse(client, round.id);
  expect(done.status).toBe('completed');
  expect(done.output_text).toBe(Array(3).fill('sleep: {"slept":300}').join('\n'));
  await expectCompleted(client, blockers);

  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    // Each sibling waited for the one before it far longer than a sibling's wait (50 ms),
    // and none went to the queue: the queue's jobs could not have run sooner anywhere.
    const rows = await toolSteps(db, round.id);
    expect(rows.map((row) => [row.inline, row.attempt])).toEqual([
      [true, 1],
      [true, 1],
      [true, 1],
    ]);
    expect(new Set(rows.map((row) => row.executed_by)).size).toBe(1);
  } finally {
    await db.end();
  }
});

it("runs none of a round's waiting siblings once the response is cancelled", async () => {
  // One worker process, as the test before left it: the round's siblings wait in line.
  const client = ratchet.client(await ratchet.newKey());
  const call = (n: number): string => `/call sleep {"ms":400,"round":"cancelled","n":${n}}`;
  const { round, blockers } = await roundBeforeBlockers(client, [
    '/sleep 100',
    call(1),
    call(2),
    call(3),
  ]);
  const ofRound = (): typeof tools.calls =>
    tools.calls.filter((c) => (c.body as { round?: string }).round === 'cancelled');
  await waitFor("the round's first call", () => ofRound().length > 0, 10_000, 10);

  await client.responses.cancel(round.id);
  expect((await waitForResponse(client, round.id)).status).toBe('cancelled');
  await expectCompleted(client, blockers);
  // The first call was aborted; the two that waited for its slot started after the cancel,
  // and were aborted before they sent anything.
  expect(ofRound()).toHaveLength(1);
  expect(ofRound()[0].abortedAt).not.toBeNull();
});

/**
 * A background response whose model runs `script` (a round of sleep calls), then three that
 * each hold a slot for a second, queued right behind it.
 */
async function roundBeforeBlockers(
  client: OpenAI,
  script: string[],
): Promise<{ round: OpenAI.Responses.Response; blockers: OpenAI.Responses.Response[] }> {
  const round = await client.responses.create({
    model: 'mock',
    background: true,
    input: script.join('\n'),
    tools: [{ type: 'function', name: 'sleep', parameters: null, strict: null }],
  });
  const blockers = await Promise.all(
    [1, 2, 3].map((n) =>
      client.responses.create({
        model: 'mock',
        background: true,
        input: `/sleep 1000\nblocker ${n}`,
      }),
    ),
  );
  return { round, blockers };
}

async function expectCompleted(
  client: OpenAI,
  responses: OpenAI.Responses.Response[],
): Promise<void> {
  for (const response of responses) {
    expect((await waitForResponse(client, response.id)).status).toBe('completed');
  }
}

async function toolSteps(
  db: Client,
  responseId: string,
): Promise<Array<{ executed_by: string; inline: boolean; attempt: number }>> {
  const { rows } = await db.query<{ executed_by: string; inline: boolean; attempt: number }>(
    `SELECT s.executed_by, s.started_at = p.completed_at AS inline, s.attempt
       FROM steps s
            JOIN steps p ON p.response_id = s.response_id AND p.scope_id = s.scope_id
                        AND p.round = s.round - 1
      WHERE s.response_id = $1 AND s.kind = 'tool_call'
      ORDER BY s.index`,
    [responseId],
  );
  return rows;
}
