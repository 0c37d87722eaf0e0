import { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { Client } from 'pg';
import { queueKeyPrefix } from '@ratchet/queue';
import { queryRows } from './support/database';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import { WorkerProcesses } from './support/processes';
import { REDIS_URL, startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { checkSse, eventsFromSse } from './support/stream-checker';
import { waitFor } from './support/wait';

// Recovery, one failure at a time, with real worker processes: a worker killed mid tool call,
// a worker stopped with work still running, jobs lost with Redis, and an event log whose
// writer died before the terminal event. The chaos suite mixes them all at random.

let tools: FakeTools;
let ratchet: TestRatchet;
let client: OpenAI;
let key: string;
const workers = new WorkerProcesses(() => ({ ...ratchet.env, WORKER_CONCURRENCY: '4' }));

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('recovery', {
    workers: 0,
    configYaml: `
models:
  mock: { provider: mock }
tools:
  sleep: { type: http, url: ${tools.url}/sleep, timeoutMs: 20000 }
  hang: { type: http, url: ${tools.url}/hang, timeoutMs: 60000 }
  helper: { type: agent, model: mock, tools: [hang] }
  asked: { type: http, url: ${tools.url}/echo, approval: always }
`,
    env: {
      RATCHET_STEP_LEASE_MS: '1000',
      RATCHET_SWEEP_INTERVAL_MS: '200',
      RATCHET_SWEEP_GRACE_MS: '500',
    },
  });
  key = await ratchet.newKey();
  client = ratchet.client(key);
});

afterAll(async () => {
  await workers.killAll();
  await ratchet?.close();
  await tools?.close();
});

const terminal = (id: string, timeoutMs = 20_000) => waitForResponse(client, id, { timeoutMs });

function query<T extends object>(sql: string, values: unknown[] = []): Promise<T[]> {
  return queryRows<T>(ratchet.database.url, sql, values);
}

async function progressOf(id: string): Promise<{ waiting_for: string[]; steps: unknown[] }> {
  const response = await ratchet.request(`/v1/responses/${id}/steps`, { key });
  expect(response.status).toBe(200);
  return (await response.json()) as { waiting_for: string[]; steps: unknown[] };
}

function callsFor(marker: number) {
  return tools.calls.filter(
    (call) => (call.body as { marker?: number } | undefined)?.marker === marker,
  );
}

it('finishes a tool call whose worker was killed mid-call on another worker, same Idempotency-Key', async () => {
  const doomed = await workers.start();
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    input: '/call sleep {"ms":1500,"marker":1}',
    tools: [serverTool('sleep')],
  });
  await waitFor('the tool call', async () => callsFor(1).length > 0);
  const running = await progressOf(response.id);
  expect(running.waiting_for).toEqual([
    expect.stringMatching(/^tool_call 'sleep' \(step step_\w+\): running on worker .*:\d+:/),
  ]);
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  // Nobody renews the lease now; the response says so until another worker takes over.
  await waitFor('the lease to run out', async () => {
    const view = await progressOf(response.id);
    return view.waiting_for.some((reason) => reason.includes('stopped renewing')) ? view : null;
  });
  await workers.start();

  const done = await terminal(response.id);
  expect(done.status).toBe('completed');
  expect(done.output_text).toBe('sleep: {"slept":1500}');
  const calls = callsFor(1);
  expect(calls).toHaveLength(2);
  const steps = await query<{ id: string; attempt: number }>(
    `SELECT id, attempt FROM steps WHERE response_id = $1 AND kind = 'tool_call'`,
    [response.id],
  );
  expect(steps).toHaveLength(1);
  expect(steps[0].attempt).toBe(2);
  expect(calls.map((call) => call.idempotencyKey)).toEqual([steps[0].id, steps[0].id]);
  expect((await progressOf(response.id)).waiting_for).toEqual([]);
});

it('finishes siblings that ran beside their deciding step when that worker is killed mid-call', async () => {
  const doomed = await workers.start();
  // The only worker, with free slots: it runs the round's three calls itself, claimed as it
  // records them, with no job queued for any.
  await Promise.all(
    workers.all.filter((worker) => worker !== doomed).map((w) => w.stop('SIGKILL')),
  );
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    input: [1, 2, 3].map((n) => `/call sleep {"ms":1500,"marker":${10 + n}}`).join('\n'),
    tools: [serverTool('sleep')],
  });
  await waitFor('the three calls', async () =>
    [11, 12, 13].every((marker) => callsFor(marker).length > 0),
  );
  // Claimed by the statement that recorded the model call's outcome: started at its now().
  const claimed = await query<{ attempt: number; inline: boolean; executed_by: string }>(
    `SELECT s.attempt, s.started_at = p.completed_at AS inline, s.executed_by
       FROM steps s
            JOIN steps p ON p.response_id = s.response_id AND p.scope_id = s.scope_id
                        AND p.round = s.round - 1
      WHERE s.response_id = $1 AND s.kind = 'tool_call'`,
    [response.id],
  );
  expect(claimed).toHaveLength(3);
  expect(claimed.every((step) => step.attempt === 1 && step.inline)).toBe(true);
  expect(new Set(claimed.map((step) => step.executed_by)).size).toBe(1);
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  await workers.start();

  const done = await terminal(response.id);
  expect(done.status).toBe('completed');
  expect(done.output_text).toBe(Array(3).fill('sleep: {"slept":1500}').join('\n'));
  const steps = await query<{ id: string; attempt: number; marker: number }>(
    `SELECT id, attempt, (arguments::jsonb ->> 'marker')::int AS marker
       FROM steps WHERE response_id = $1 AND kind = 'tool_call' ORDER BY index`,
    [response.id],
  );
  expect(steps.map((step) => [step.marker, step.attempt])).toEqual([
    [11, 2],
    [12, 2],
    [13, 2],
  ]);
  // Each ran once more, on the new worker, under its own step's Idempotency-Key.
  for (const step of steps) {
    expect(callsFor(step.marker).map((call) => call.idempotencyKey)).toEqual([step.id, step.id]);
  }
});

it('hands running steps back when a worker stops, so another finishes them at once', async () => {
  const stopping = await workers.start({ RATCHET_SHUTDOWN_TIMEOUT_MS: '2000' });
  // The only worker, so the call runs on it; no other holds or takes over anything.
  await Promise.all(
    workers.all.filter((worker) => worker !== stopping).map((w) => w.stop('SIGKILL')),
  );
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    // Long enough to be running still when the stopping worker's 2 s are up, however long the
    // next worker takes to start.
    input: '/call sleep {"ms":8000,"marker":2}',
    tools: [serverTool('sleep')],
  });
  await waitFor('the tool call', async () => callsFor(2).length > 0);
  // The worker that takes over is up before the other stops, so its start-up (slow on a
  // loaded machine) is not part of what is timed, and the hand-back cannot wait for a lease.
  await workers.start();
  const stoppedAt = Date.now();
  const code = await stopping.stop('SIGTERM');
  if (code !== 0) throw new Error(`worker exited ${code}:\n${stopping.output()}`);
  expect(Date.now() - stoppedAt).toBeLessThan(2500);

  const done = await terminal(response.id);
  expect(done.status).toBe('completed');
  expect(callsFor(2)).toHaveLength(2);
  // Taken over at once, not after the tool's 8 s or a lease expiry.
  expect(callsFor(2)[1].startedAt - stoppedAt).toBeLessThan(3000);
  expect(callsFor(2)[0].abortedAt).not.toBeNull();
});

it('starts and finishes responses whose jobs were lost with all of Redis', async () => {
  await workers.killAll();
  const created = await Promise.all(
    [3, 4, 5].map((marker) =>
      client.responses.create({
        model: 'mock',
        background: true,
        input: `/call sleep {"ms":100,"marker":${marker}}`,
        tools: [serverTool('sleep')],
      }),
    ),
  );
  // Everything ratchet keeps in Redis is gone (the queue with these responses' jobs).
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${queueKeyPrefix(ratchet.env.RATCHET_REDIS_PREFIX)}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
  await workers.start();
  for (const response of created) {
    const done = await terminal(response.id);
    expect(done.status).toBe('completed');
  }
  for (const marker of [3, 4, 5]) expect(callsFor(marker)).toHaveLength(1);
});

it('closes the event log of a streamed response that ended without its terminal event', async () => {
  if (workers.all.every((worker) => worker.child.exitCode !== null)) await workers.start();
  const stream = client.responses.stream({ model: 'mock', input: 'hello' });
  const final = await stream.finalResponse();
  // As if the worker died between ending the response and logging its terminal event.
  await query(`DELETE FROM events WHERE response_id = $1 AND type = 'response.completed'`, [
    final.id,
  ]);
  await query(
    `UPDATE responses SET events_closed = false, next_sequence = next_sequence - 1,
            lease_expires_at = now() WHERE id = $1`,
    [final.id],
  );
  const resumed = await ratchet.request(`/v1/responses/${final.id}?stream=true`, { key });
  const text = await resumed.text();
  expect(checkSse(text)).toEqual([]);
  const events = eventsFromSse(text).events as { type: string }[];
  expect(events[events.length - 1].type).toBe('response.completed');
});

it('streams the approval requests of a paused response whose worker died before logging them', async () => {
  if (workers.all.every((worker) => worker.child.exitCode !== null)) await workers.start();
  const stream = client.responses.stream({
    model: 'mock',
    input: '/call asked {"text":"may I?"}',
    tools: [serverTool('asked')],
  });
  const final = await stream.finalResponse();
  const requests = final.output.filter((item) => item.type === 'mcp_approval_request');
  expect(requests).toHaveLength(1);
  const logged = await (
    await ratchet.request(`/v1/responses/${final.id}?stream=true`, { key })
  ).text();
  // As if the worker died between ending the turn and logging its requests.
  const removed = await query<{ type: string }>(
    `DELETE FROM events WHERE response_id = $1 AND sequence >= (
       SELECT min(sequence) FROM events WHERE response_id = $1
          AND type = 'response.output_item.added'
          AND data::jsonb -> 'item' ->> 'type' = 'mcp_approval_request')
     RETURNING type`,
    [final.id],
  );
  // The requests, then what the log's close wrote: the asked call's item closed, the end.
  expect(removed.map((row) => row.type).sort()).toEqual([
    'response.completed',
    'response.output_item.added',
    'response.output_item.done',
    'response.output_item.done',
  ]);
  await query(
    `UPDATE responses SET events_closed = false, next_sequence = next_sequence - $2,
            lease_expires_at = now() WHERE id = $1`,
    [final.id, removed.length],
  );
  await query(
    `UPDATE scopes SET stream_items = stream_items - 1
      WHERE response_id = $1 AND parent_step_id IS NULL`,
    [final.id],
  );
  const resumed = await (
    await ratchet.request(`/v1/responses/${final.id}?stream=true`, { key })
  ).text();
  expect(checkSse(resumed)).toEqual([]);
  const events = eventsFromSse(resumed).events as {
    type: string;
    output_index?: number;
    item?: { id: string; type: string };
  }[];
  const announced = events.filter(
    (event) =>
      event.type.startsWith('response.output_item.') && event.item?.type === 'mcp_approval_request',
  );
  expect(announced.map((event) => [event.type, event.item?.id])).toEqual([
    ['response.output_item.added', requests[0].id],
    ['response.output_item.done', requests[0].id],
  ]);
  // The sweeper logs what the worker would have, in the same places.
  expect(eventsFromSse(resumed).events).toEqual(eventsFromSse(logged).events);
});

/**
 * Kills every worker and starts one to doom, then submits a streamed background response to
 * it. Returns the worker and the response's SSE body, to read from and cancel.
 */
async function streamOnDoomedWorker(input: string, tools: string[] = []) {
  await workers.killAll();
  const doomed = await workers.start();
  const response = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({
      model: 'mock',
      stream: true,
      background: true,
      input,
      tools: tools.map(serverTool),
    }),
  });
  const body = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  return { doomed, body };
}

const responseIdIn = (sse: string): string => /"id":"(resp_[0-9a-f]+)"/.exec(sse)![1];

/**
 * Waits for the response to complete with `text`, replays its stream (which must pass the
 * checker), and returns the statuses its items closed with, in order.
 */
async function closedItemStatuses(id: string, text: string): Promise<string[]> {
  const done = await terminal(id);
  expect(done.status).toBe('completed');
  expect(done.output_text).toBe(text);
  const sse = await (await ratchet.request(`/v1/responses/${id}?stream=true`, { key })).text();
  expect(checkSse(sse)).toEqual([]);
  const events = eventsFromSse(sse).events as { type: string; item?: { status: string } }[];
  return events
    .filter((event) => event.type === 'response.output_item.done')
    .map((event) => event.item?.status ?? '');
}

it('recovers a model call killed mid-stream: its items close incomplete, the retry streams anew', async () => {
  const { doomed, body } = await streamOnDoomedWorker(
    '/stream 100\n/reply one two three four five six seven eight nine ten',
  );
  let seen = '';
  while ((seen.match(/response\.output_text\.delta/g) ?? []).length < 4) {
    const { value, done } = await body.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  await body.cancel();
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  const id = responseIdIn(seen);
  await workers.start();

  expect(await closedItemStatuses(id, 'one two three four five six seven eight nine ten')).toEqual([
    'incomplete',
    'completed',
  ]);
  // The dead attempt's tokens are estimated into the step's usage.
  const [step] = await query<{ attempt: number; usage_estimated: boolean | null }>(
    `SELECT attempt, usage_estimated FROM steps WHERE response_id = $1`,
    [id],
  );
  expect(step.attempt).toBe(2);
  expect(step.usage_estimated).toBe(true);
});

/**
 * Streams a model call on a worker that is then killed while its outcome waits for the
 * step's row (held by the test): the call has streamed everything, and its items must not be
 * logged done yet. `record` says whether the blocked statement still commits after the
 * worker died (it had reached Postgres) or never does (its backend is ended).
 */
async function killBeforeRecorded(record: boolean): Promise<{ id: string; closed: string[] }> {
  const { doomed, body } = await streamOnDoomedWorker(
    '/stream 60\n/reply alpha bravo charlie delta echo foxtrot',
  );
  const { value } = await body.read();
  await body.cancel();
  const id = responseIdIn(new TextDecoder().decode(value));
  const types = async (): Promise<string[]> =>
    (
      await query<{ type: string }>(
        'SELECT type FROM events WHERE response_id = $1 ORDER BY sequence',
        [id],
      )
    ).map((row) => row.type);
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const [step] = await waitFor('the model step', async () => {
      const rows = await query<{ id: string }>(
        `SELECT id FROM steps WHERE response_id = $1 AND status = 'running'`,
        [id],
      );
      return rows.length > 0 ? rows : null;
    });
    await db.query('BEGIN');
    await db.query('SELECT 1 FROM steps WHERE id = $1 FOR UPDATE', [step.id]);
    await waitFor('every delta logged', async () => {
      const logged = await types();
      const deltas = logged.filter((type) => type === 'response.output_text.delta');
      return deltas.length === 6 ? logged : null;
    });
    await waitFor('the outcome waiting for the step row', async () => {
      const waiting = await query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return waiting.length > 0 ? waiting : null;
    });
    expect(await types()).not.toContain('response.output_item.done');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    if (!record) {
      await query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
    }
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    await db.end();
  }
  await workers.start();

  return { id, closed: await closedItemStatuses(id, 'alpha bravo charlie delta echo foxtrot') };
}

it('logs streamed items done only once their step is recorded: a worker killed before, the retry streams anew', async () => {
  const { id, closed } = await killBeforeRecorded(false);

  expect(closed).toEqual(['incomplete', 'completed']);
  const [step] = await query<{ attempt: number }>(
    'SELECT attempt FROM steps WHERE response_id = $1',
    [id],
  );
  expect(step.attempt).toBe(2);
});

it('completes the streamed items of a step recorded just as its worker died, from its output', async () => {
  const { id, closed } = await killBeforeRecorded(true);

  expect(closed).toEqual(['completed']);
  const [step] = await query<{ attempt: number }>(
    'SELECT attempt FROM steps WHERE response_id = $1',
    [id],
  );
  expect(step.attempt).toBe(1);
});

it('records a model call only after all its items hold their place in the log, so a worker killed meanwhile leaves them in order', async () => {
  // Any event that announces output_index 1 waits for a lock the test holds: the model call
  // has streamed its first call's item, and the second's cannot be logged.
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  await db.query(`SELECT pg_advisory_lock(7301)`);
  await db.query(`
    CREATE FUNCTION stall_second_item() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.type = 'response.output_item.added' AND NEW.data::jsonb->>'output_index' = '1' THEN
        PERFORM pg_advisory_xact_lock(7301);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER stall_second_item BEFORE INSERT ON events
      FOR EACH ROW EXECUTE FUNCTION stall_second_item();`);
  let id: string;
  try {
    const { doomed, body } = await streamOnDoomedWorker(
      '/stream 20\n/call sleep {"ms":10,"marker":9}\n/call sleep {"ms":20,"marker":9}',
      ['sleep'],
    );
    const { value } = await body.read();
    await body.cancel();
    id = responseIdIn(new TextDecoder().decode(value));
    await waitFor('the second item to stall', async () => {
      const waiting = await query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event = 'advisory'`,
      );
      return waiting.length > 0 ? waiting : null;
    });
    // The call has long finished streaming; its outcome must still wait for its items, not
    // be on its way to Postgres (where it would wait for the stalled insert's row locks).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const recording = await query<{ query: string }>(
      `SELECT query FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'
          AND wait_event <> 'advisory'`,
    );
    expect(recording).toEqual([]);
    const [step] = await query<{ status: string }>(
      `SELECT status::text FROM steps WHERE response_id = $1 AND kind = 'model_call'`,
      [id],
    );
    expect(step.status).toBe('running');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    await query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event = 'advisory'`,
    );
  } finally {
    await db.query('SELECT pg_advisory_unlock(7301)');
    await db.query('DROP TRIGGER IF EXISTS stall_second_item ON events');
    await db.query('DROP FUNCTION IF EXISTS stall_second_item()');
    await db.end();
  }
  await workers.start();

  // The dead attempt's item closes incomplete; the retry's two calls (each closing with its
  // output) and the answer follow in order.
  expect(await closedItemStatuses(id, 'sleep: {"slept":10}\nsleep: {"slept":20}')).toEqual([
    'incomplete',
    'completed',
    'completed',
    'completed',
  ]);
});

it('fails a step for good once it has been run 10 times, and the model hears why', async () => {
  await workers.killAll();
  const doomed = await workers.start();
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    input: '/call sleep {"ms":3000,"marker":6}',
    tools: [serverTool('sleep')],
  });
  await waitFor('the tool call', async () => callsFor(6).length > 0);
  doomed.child.kill('SIGKILL');
  await doomed.exited;
  // As if nine workers had died running it already.
  await query(`UPDATE steps SET attempt = 10 WHERE response_id = $1 AND kind = 'tool_call'`, [
    response.id,
  ]);
  await workers.start();

  const done = await terminal(response.id);
  expect(done.status).toBe('completed');
  expect(done.output_text).toContain('was tried 10 times and never finished');
  expect(callsFor(6)).toHaveLength(1);
});

it('shows a model call backing off after an upstream failure, until when and why', async () => {
  if (workers.all.every((worker) => worker.child.exitCode !== null)) await workers.start();
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    input: '/fail 503 upstream overloaded',
  });
  const view = await waitFor('a backoff', async () => {
    const progress = await progressOf(response.id);
    return progress.waiting_for.some((reason) => reason.includes('backing off until'))
      ? progress
      : null;
  });
  expect(view.waiting_for[0]).toMatch(
    /^model_call \(step step_\w+\): backing off until \S+ on worker \S+ after attempt \d of model 'mock' failed \(upstream_error: upstream overloaded\)$/,
  );
  const done = await terminal(response.id);
  expect(done.status).toBe('failed');
});

it('cancels work in every worker process and every sub-agent within a second', async () => {
  await workers.killAll();
  // Two job slots each, so the four sub-agents' hanging calls spread over both processes.
  const pair = [
    await workers.start({ WORKER_CONCURRENCY: '2' }),
    await workers.start({ WORKER_CONCURRENCY: '2' }),
  ];
  const agentCall = (n: number) => `/call helper {"input":"/call hang {\\"agent\\":${n}}"}`;
  const response = await client.responses.create({
    model: 'mock',
    background: true,
    input: [1, 2, 3, 4].map(agentCall).join('\n'),
    tools: [serverTool('helper')],
  });
  const hanging = () =>
    tools.calls.filter(
      (call) =>
        call.path === '/hang' &&
        typeof (call.body as { agent?: number }).agent === 'number' &&
        call.endedAt === null &&
        call.abortedAt === null,
    );
  await waitFor('four hanging calls', async () => hanging().length === 4);
  const running = await query<{ executed_by: string }>(
    `SELECT executed_by FROM steps WHERE response_id = $1 AND name = 'hang' AND status = 'running'`,
    [response.id],
  );
  expect(new Set(running.map((row) => row.executed_by)).size).toBe(2);
  const calls = hanging();

  const cancelledAt = Date.now();
  expect((await client.responses.cancel(response.id)).status).toBe('cancelled');
  await waitFor(
    'every hanging call to be cut',
    async () => calls.every((call) => call.abortedAt !== null),
    2000,
  );
  for (const call of calls) expect(call.abortedAt! - cancelledAt).toBeLessThan(1000);
  // Nothing ran after the cancel, and nothing is left running.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const steps = await query<{ status: string; started_at: Date | null }>(
    `SELECT status, started_at FROM steps WHERE response_id = $1`,
    [response.id],
  );
  expect(steps.filter((step) => step.status === 'running' || step.status === 'pending')).toEqual(
    [],
  );
  expect(
    steps.filter((step) => step.started_at && step.started_at.getTime() > cancelledAt),
  ).toEqual([]);
  expect(pair.every((worker) => worker.child.exitCode === null)).toBe(true);
});

it('makes the decision a worker died before making, after a round was recorded', async () => {
  if (workers.all.every((worker) => worker.child.exitCode !== null)) await workers.start();
  const done = await client.responses.create({
    model: 'mock',
    input: '/call sleep {"ms":10,"marker":7}',
    tools: [serverTool('sleep')],
  });
  expect(done.status).toBe('completed');
  // As if the worker died right after recording the tool's result: the round is complete,
  // the next model call was never decided, and the response is still running.
  await query(`DELETE FROM steps WHERE response_id = $1 AND round = 2`, [done.id]);
  await query(
    `UPDATE responses SET status = 'in_progress', output = NULL, input_tokens = NULL,
            cached_tokens = NULL, output_tokens = NULL, reasoning_tokens = NULL, total_tokens = NULL,
            completed_at = NULL,
            step_count = step_count - 1 WHERE id = $1`,
    [done.id],
  );
  const again = await terminal(done.id);
  expect(again.status).toBe('completed');
  expect(again.output_text).toBe(done.output_text);
  const steps = await query<{ round: number }>(
    `SELECT round FROM steps WHERE response_id = $1 ORDER BY round`,
    [done.id],
  );
  expect(steps.map((step) => step.round)).toEqual([0, 1, 2]);
});
