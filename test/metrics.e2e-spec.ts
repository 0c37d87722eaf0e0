import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type OpenAI from 'openai';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import {
  freePort,
  startProcess,
  waitForOutput,
  waitForReady,
  type ServiceProcess,
} from './support/processes';
import { parseExposition, type Scrape } from './support/prometheus';
import { REDIS_URL, startRatchet, writeConfig, type TestRatchet } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// Prometheus metrics end to end: responses with a model, an http tool and a sub-agent run
// against a real ratchet, and /metrics shows what they did with the right labels; with the
// api and a worker as separate processes, the worker serves its own on RATCHET_METRICS_PORT.

type Response = OpenAI.Responses.Response;

let tools: FakeTools;
let ratchet: TestRatchet;
let key: string;

function configYaml(): string {
  return `
models:
  mock: { provider: mock }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
  helper: { type: agent, model: mock, description: A helper agent, tools: [echo] }
`;
}

/** A top-level round of an http tool call and a sub-agent that calls the tool itself. */
const TOOLS_AND_AGENT = [
  '/call echo {"from": "top"}',
  `/call helper ${JSON.stringify({ input: '/call echo {"from": "helper"}' })}`,
].join('\n');

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('metrics', { configYaml: configYaml() });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  await tools?.close();
});

async function scrape(): Promise<Scrape> {
  const response = await ratchet.request('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

/** Polls until `ready(scrape)` holds; bounded. */
async function scrapeUntil(ready: (scrape: Scrape) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await scrape();
    if (ready(current)) return current;
    if (Date.now() > deadline) return current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it('is for admin keys: a tenant key is told the route does not exist, no key is 401', async () => {
  expect((await ratchet.request('/metrics', { key: null })).status).toBe(401);
  const tenant = await ratchet.request('/metrics', { key });
  const unknown = await ratchet.request('/nowhere', { key });
  expect([tenant.status, unknown.status]).toEqual([404, 404]);
  const [error, unknownError] = (await Promise.all([tenant.json(), unknown.json()])) as {
    error: { message: string };
  }[];
  expect(error).toEqual({
    error: {
      ...unknownError.error,
      message: unknownError.error.message.replace('/nowhere', '/metrics'),
    },
  });
});

it('counts steps, upstream calls, tokens, queue waits and responses with bounded labels', async () => {
  const before = await scrape();
  const response = await ratchet.client(key).responses.create({
    model: 'mock',
    input: TOOLS_AND_AGENT,
    tools: [serverTool('echo'), serverTool('helper')],
  });
  expect(response.status).toBe('completed');
  expect(tools.calls.map((call) => call.body)).toEqual(
    expect.arrayContaining([{ from: 'top' }, { from: 'helper' }]),
  );

  const after = await scrapeUntil(
    (s) =>
      s.sum('ratchet_responses_total', { status: 'completed' }) >
      before.sum('ratchet_responses_total', { status: 'completed' }),
  );
  const moved = (name: string, labels: Record<string, string>): number =>
    after.sum(name, labels) - before.sum(name, labels);

  // Two model calls at the top and two in the sub-agent; the echo tool once at each level.
  const model = { kind: 'model_call', model: 'mock', tool: '', outcome: 'completed' };
  expect(moved('ratchet_step_duration_seconds_count', model)).toBe(4);
  expect(moved('ratchet_step_duration_seconds_sum', model)).toBeGreaterThan(0);
  expect(
    moved('ratchet_step_duration_seconds_count', {
      kind: 'tool_call',
      model: '',
      tool: 'echo',
      outcome: 'completed',
    }),
  ).toBe(2);
  expect(
    moved('ratchet_step_duration_seconds_count', {
      kind: 'agent_call',
      tool: 'helper',
      outcome: 'delegated',
    }),
  ).toBe(1);
  // A histogram's buckets are cumulative, up to +Inf which holds every observation.
  const buckets = after.find('ratchet_step_duration_seconds_bucket', model);
  expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(
    after.sum('ratchet_step_duration_seconds_count', model),
  );
  expect(after.types.get('ratchet_step_duration_seconds')).toBe('histogram');

  expect(
    moved('ratchet_upstream_calls_total', { provider: 'mock', model: 'mock', status: 'ok' }),
  ).toBe(4);
  expect(
    moved('ratchet_upstream_call_duration_seconds_count', { provider: 'mock', model: 'mock' }),
  ).toBe(4);
  expect(moved('ratchet_tokens_total', { model: 'mock', direction: 'input' })).toBeGreaterThan(0);
  expect(moved('ratchet_tokens_total', { model: 'mock', direction: 'output' })).toBeGreaterThan(0);
  // The round of two calls went through the queue; the sub-agent's scope was queued to decide.
  expect(moved('ratchet_queue_wait_seconds_count', { job: 'step.run' })).toBeGreaterThanOrEqual(2);
  expect(moved('ratchet_queue_wait_seconds_count', { job: 'scope.advance' })).toBeGreaterThan(0);
  expect(moved('ratchet_responses_total', { status: 'completed' })).toBe(1);
  expect(moved('ratchet_response_duration_seconds_count', { status: 'completed' })).toBe(1);

  // Labels stay within what the config names.
  const modelLabels = new Set(
    after.samples.filter((s) => s.name.startsWith('ratchet_')).map((s) => s.labels.model ?? ''),
  );
  expect([...modelLabels].sort()).toEqual(['', 'mock']);
  // The process's own metrics are there too.
  expect(after.sum('process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(after.find('nodejs_eventloop_lag_seconds')).toHaveLength(1);
});

it('counts upstream failures by code, and the retries they lead to', async () => {
  const before = await scrape();
  const response = await ratchet.client(key).responses.create({
    model: 'mock',
    input: '/fail 503 the model is away',
  });
  expect(response.status).toBe('failed');
  const after = await scrapeUntil(
    (s) =>
      s.sum('ratchet_responses_total', { status: 'failed' }) >
      before.sum('ratchet_responses_total', { status: 'failed' }),
  );
  const moved = (name: string, labels: Record<string, string>): number =>
    after.sum(name, labels) - before.sum(name, labels);
  const failures = after
    .find('ratchet_upstream_calls_total', { provider: 'mock', model: 'mock' })
    .filter((s) => s.labels.status !== 'ok');
  expect(failures).toHaveLength(1);
  const status = failures[0].labels.status;
  expect(status).toMatch(/^[a-z_]+$/);
  // Four attempts (the default retry policy): three of them retries.
  expect(moved('ratchet_upstream_calls_total', { model: 'mock', status })).toBe(4);
  expect(moved('ratchet_upstream_retries_total', { provider: 'mock', model: 'mock' })).toBe(3);
  expect(
    moved('ratchet_step_duration_seconds_count', { kind: 'model_call', outcome: 'failed' }),
  ).toBe(1);
  expect(moved('ratchet_responses_total', { status: 'failed' })).toBe(1);
});

it('shows running steps and responses, open event streams and event-log writes', async () => {
  const before = await scrape();
  const client = ratchet.client(key);
  const stream = await client.responses.create({
    model: 'mock',
    input: '/sleep 1500\nStill there?',
    stream: true,
  });
  const events: string[] = [];
  const reading = (async () => {
    for await (const event of stream) events.push(event.type);
  })();
  const during = await scrapeUntil(
    (s) => s.sum('ratchet_steps_in_flight') >= 1 && s.sum('ratchet_sse_clients') >= 1,
  );
  expect(during.sum('ratchet_steps_in_flight')).toBeGreaterThanOrEqual(1);
  expect(during.sum('ratchet_responses_in_flight')).toBeGreaterThanOrEqual(1);
  expect(during.sum('ratchet_sse_clients')).toBeGreaterThanOrEqual(1);
  await reading;
  expect(events.at(-1)).toBe('response.completed');

  const after = await scrapeUntil(
    (s) => s.sum('ratchet_sse_clients') === 0 && s.sum('ratchet_steps_in_flight') === 0,
  );
  expect(after.sum('ratchet_sse_clients')).toBe(0);
  expect(after.sum('ratchet_steps_in_flight')).toBe(0);
  expect(after.sum('ratchet_responses_in_flight')).toBe(0);
  const writes = (s: Scrape, operation: string): number =>
    s.sum('ratchet_event_log_write_seconds_count', { operation });
  expect(writes(after, 'append') - writes(before, 'append')).toBeGreaterThan(0);
  expect(writes(after, 'close') - writes(before, 'close')).toBe(1);
});

it('has a Grafana dashboard that queries only metrics ratchet exports', async () => {
  const file = path.join(__dirname, '..', 'docs', 'grafana', 'ratchet.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as {
    panels: { type: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((panel) => panel.targets ?? []).map((t) => t.expr);
  expect(exprs.length).toBeGreaterThanOrEqual(20);
  const used = new Set(
    exprs.flatMap((expr) => expr.match(/\b(ratchet|process|nodejs)_\w+/g) ?? []),
  );
  const exported = await scrape();
  const families = new Set([...exported.types.keys()]);
  const missing = [...used].filter(
    (name) => !families.has(name) && !families.has(name.replace(/_(bucket|count|sum)$/, '')),
  );
  expect(missing).toEqual([]);
  // Every ratchet metric is on the dashboard.
  const ratchetFamilies = [...families].filter((name) => name.startsWith('ratchet_'));
  const shown = (name: string) =>
    [...used].some((metric) => metric === name || metric.startsWith(`${name}_`));
  expect(ratchetFamilies.filter((name) => !shown(name))).toEqual([]);
});

describe('with the api and a worker as separate processes', () => {
  let database: TestDatabase;
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('metrics-processes');
  });

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop('SIGKILL')));
    await database?.drop();
  });

  it("serves the worker's metrics on RATCHET_METRICS_PORT and the api's at /metrics", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const adminKey = `admin-${randomBytes(12).toString('hex')}`;
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL,
      RATCHET_REDIS_PREFIX: testRedisPrefix('metrics'),
      LOG_LEVEL: 'warn',
      PORT: String(port),
      RATCHET_ADMIN_KEY: adminKey,
      RATCHET_CONFIG: writeConfig(configYaml()),
    };
    const api = startProcess('dist/apps/api/main.js', env);
    const worker = startProcess('dist/apps/worker/main.js', {
      ...env,
      RATCHET_METRICS_PORT: String(metricsPort),
    });
    started.push(api, worker);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, api);
    await waitForOutput(worker, `metrics on http://127.0.0.1:${metricsPort}/metrics`);

    const created = await fetch(`http://127.0.0.1:${port}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'mock',
        input: TOOLS_AND_AGENT,
        tools: [serverTool('echo'), serverTool('helper')],
      }),
    });
    expect(((await created.json()) as Response).status).toBe('completed');

    const fromWorker = parseExposition(
      await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    );
    expect(
      fromWorker.sum('ratchet_step_duration_seconds_count', { kind: 'tool_call', tool: 'echo' }),
    ).toBe(2);
    expect(fromWorker.sum('ratchet_upstream_calls_total', { model: 'mock', status: 'ok' })).toBe(4);
    expect(fromWorker.sum('ratchet_responses_total', { status: 'completed' })).toBe(1);
    expect(fromWorker.sum('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);

    // The api runs no steps: its /metrics has the families, with nothing counted.
    const apiMetrics = await fetch(`http://127.0.0.1:${port}/metrics`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    const fromApi = parseExposition(await apiMetrics.text());
    expect(fromApi.types.get('ratchet_step_duration_seconds')).toBe('histogram');
    expect(fromApi.sum('ratchet_step_duration_seconds_count')).toBe(0);
    expect(fromApi.sum('process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
