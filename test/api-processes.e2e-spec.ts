import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LISTEN_BACKLOG } from '../apps/api/src/listen';
import { SseBody } from './support/chaos';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import {
  freePort,
  startProcess,
  waitForOutput,
  waitForReady,
  type ServiceProcess,
} from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitFor } from './support/wait';

// Any number of API processes share one Postgres and one Redis: each serves streams, cancels
// and foreground waits for responses that were created on another and run on a worker process
// of their own. Here: API a (in this process), API b (a process from the build) and one worker
// process; neither API runs a worker.

let tools: FakeTools;
let ratchet: TestRatchet;
let apiB: ServiceProcess;
let urlB: string;
let worker: ServiceProcess;

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('api-processes', {
    workers: 0,
    configYaml: `
models:
  mock: { provider: mock }
tools:
  sleep: { type: http, url: ${tools.url}/sleep }
  hang: { type: http, url: ${tools.url}/hang, timeoutMs: 600000 }
`,
  });
  const port = await freePort();
  urlB = `http://127.0.0.1:${port}`;
  apiB = startProcess('dist/apps/api/main.js', { ...ratchet.env, PORT: String(port) });
  worker = startProcess('dist/apps/worker/main.js', ratchet.env);
  await Promise.all([
    waitForReady(`${urlB}/readyz`, apiB),
    waitForOutput(worker, 'processing jobs'),
  ]);
});

afterAll(async () => {
  await Promise.all([apiB?.stop('SIGKILL'), worker?.stop('SIGKILL')]);
  await ratchet?.close();
  await tools?.close();
});

function onB(key: string, pathname: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${urlB}${pathname}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
}

const SSE_TIMEOUT_MS = 15_000;

it('listens with room for a burst of connections, not the default 511', () => {
  // ss prints a listening socket's backlog as its Send-Q.
  const line = execFileSync('ss', ['-ltnH', `sport = :${new URL(urlB).port}`], {
    encoding: 'utf8',
  }).trim();
  const [, , backlog] = line.split(/\s+/);
  expect(Number(backlog)).toBe(Math.min(LISTEN_BACKLOG, somaxconn()));
});

function somaxconn(): number {
  return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
}

it('streams on one API what runs for a request made on the other, from a cursor', async () => {
  const key = await ratchet.newKey();
  const created = await ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({
      model: 'mock',
      input: '/call sleep {"ms":400}',
      tools: [{ type: 'function', name: 'sleep' }],
      background: true,
      stream: true,
    }),
  });
  const live = new SseBody(created);
  await live.read((body) => body.events().length >= 2);
  const [first] = live.events();
  const id = (first.response as { id: string }).id;

  const resumed = new SseBody(
    await onB(key, `/v1/responses/${id}?stream=true&starting_after=1`, {
      signal: AbortSignal.timeout(SSE_TIMEOUT_MS),
    }),
  );
  await Promise.all([live.read(), resumed.read()]);

  expect(live.done()).toBe(true);
  expect(resumed.done()).toBe(true);
  const all = live.events();
  expect(all.at(-1)?.type).toBe('response.completed');
  // The other API sends the same events, with the same numbers, from the cursor on.
  expect(resumed.events()).toEqual(all.filter((event) => event.sequence_number > 1));
});

it('cancels on one API a response created and streamed on the other', async () => {
  const key = await ratchet.newKey();
  const stream = new SseBody(
    await ratchet.request('/v1/responses', {
      key,
      method: 'POST',
      body: JSON.stringify({
        model: 'mock',
        input: '/call hang {}',
        tools: [{ type: 'function', name: 'hang' }],
        background: true,
        stream: true,
      }),
      signal: AbortSignal.timeout(SSE_TIMEOUT_MS),
    }),
  );
  await stream.read((body) => body.text.includes('response.mcp_call.in_progress'));
  const id = (stream.events()[0].response as { id: string }).id;
  const hang = await waitFor(
    'the hanging tool call',
    () => tools.calls.find((call) => call.path === '/hang' && call.body !== undefined),
    5_000,
    25,
  );

  const cancelled = await onB(key, `/v1/responses/${id}/cancel`, { method: 'POST' });
  expect(cancelled.status).toBe(200);
  expect(((await cancelled.json()) as { status: string }).status).toBe('cancelled');

  await stream.read();
  expect(stream.done()).toBe(true);
  expect(stream.events().at(-1)).toMatchObject({
    type: 'response.incomplete',
    response: { status: 'cancelled' },
  });
  // The worker process let go of the tool call.
  expect(await waitFor('the tool call to be aborted', () => hang.abortedAt, 5_000, 25)).toEqual(
    expect.any(Number),
  );
});

it('answers a foreground request on either API once a worker process finishes it', async () => {
  const key = await ratchet.newKey();
  const [onA, onOther] = await Promise.all([
    ratchet.client(key).responses.create({ model: 'mock', input: 'from a' }),
    onB(key, '/v1/responses', {
      method: 'POST',
      body: JSON.stringify({ model: 'mock', input: 'from b' }),
    }).then(
      (answer) => answer.json() as Promise<{ id: string; output_text?: string; status: string }>,
    ),
  ]);
  expect(onA.status).toBe('completed');
  expect(onOther.status).toBe('completed');
  // Each API reads what the other created.
  const readOnB = (await (await onB(key, `/v1/responses/${onA.id}`)).json()) as { status: string };
  expect(readOnB.status).toBe('completed');
  const readOnA = await ratchet.client(key).responses.retrieve(onOther.id);
  expect(readOnA.output_text).toBe('You said: from b');
});
