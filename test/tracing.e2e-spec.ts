import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from './support/database';
import { chatCompletion, startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startFakeMcp } from './support/fake-mcp';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';
import {
  freePort,
  startProcess,
  waitForOutput,
  waitForReady,
  type ServiceProcess,
} from './support/processes';
import { REDIS_URL, writeConfig } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// OpenTelemetry traces end to end, with the api and a worker as separate processes exporting
// to an OTLP/HTTP receiver in this test: a client's traceparent on POST /v1/responses is the
// parent of the api's request span, the response's span hangs under that, the steps under
// the response (a sub-agent's under its agent step), and each upstream and tool HTTP call
// under its step, whose traceparent the tool and the upstream receive.

let receiver: OtlpReceiver;
let tools: FakeTools;
let upstream: FakeOpenAI;
let database: TestDatabase;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  [receiver, tools, upstream, database] = await Promise.all([
    startOtlpReceiver(),
    startFakeTools(),
    startFakeOpenAI(),
    createTestDatabase('tracing'),
  ]);
});

// Each test's processes share the database: none may outlive its test, or its liveness watch
// would take over the next test's steps.
afterEach(async () => {
  await Promise.all(started.splice(0).map((service) => service.stop('SIGKILL')));
});

afterAll(async () => {
  await Promise.all([receiver?.close(), tools?.close(), upstream?.close(), database?.drop()]);
});

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Polls until `ready` holds for the spans received; bounded. */
async function spansUntil(
  ready: (spans: ReceivedSpan[]) => boolean,
  timeoutMs = 20_000,
): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + timeoutMs;
  while (!ready(receiver.spans) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return receiver.spans;
}

it('follows a response from the client across the api, a worker, a sub-agent, tools and upstreams', async () => {
  const [port] = [await freePort()];
  const adminKey = `admin-${hex(12)}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('tracing'),
    LOG_LEVEL: 'warn',
    PORT: String(port),
    RATCHET_ADMIN_KEY: adminKey,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    RATCHET_CONFIG: writeConfig(`
models:
  mock: { provider: mock }
  upstream: { provider: openai-chat, baseUrl: ${upstream.url}, upstreamModel: upstream-model }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
  helper: { type: agent, model: upstream, description: A helper agent, tools: [echo] }
`),
  };
  const api = startProcess('dist/apps/api/main.js', env);
  const worker = startProcess('dist/apps/worker/main.js', env);
  started.push(api, worker);
  await waitForReady(`http://127.0.0.1:${port}/readyz`, api);
  await waitForOutput(worker, `traces to ${receiver.url}/v1/traces`);

  // The helper's upstream fails once (a retry, logged inside the step), calls echo, answers.
  upstream.enqueue(
    { kind: 'json', status: 503, body: { error: { message: 'busy' } } },
    {
      kind: 'json',
      body: chatCompletion({
        text: null,
        toolCalls: [{ id: 'call_1', name: 'echo', arguments: '{"from":"helper"}' }],
      }),
    },
    { kind: 'json', body: chatCompletion({ text: 'The helper is done.' }) },
  );
  const traceId = hex(16);
  const clientSpanId = hex(8);
  const created = await fetch(`http://127.0.0.1:${port}/v1/responses`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${adminKey}`,
      'content-type': 'application/json',
      traceparent: `00-${traceId}-${clientSpanId}-01`,
    },
    body: JSON.stringify({
      model: 'mock',
      input: ['/call echo {"from": "top"}', '/call helper {"input": "Look it up."}'].join('\n'),
      tools: [
        { type: 'function', name: 'echo' },
        { type: 'function', name: 'helper' },
      ],
    }),
  });
  const response = (await created.json()) as { id: string; status: string };
  expect(response.status).toBe('completed');

  const named = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
  const spans = await spansUntil(
    (all) =>
      named(all, 'response').length === 1 &&
      named(all, 'POST /v1/responses').length === 1 &&
      named(all, 'tool echo').length === 2 &&
      named(all, 'upstream upstream').length === 3,
  );
  expect(receiver.rejected).toEqual([]);
  const ours = spans.filter((s) => s.traceId === traceId);
  // Every span is in the client's trace (readiness probes make none).
  expect(ours.length).toBe(spans.length);

  const one = (name: string): ReceivedSpan => {
    const found = named(ours, name);
    expect({ name, count: found.length }).toEqual({ name, count: 1 });
    return found[0];
  };
  const request = one('POST /v1/responses');
  expect(request).toMatchObject({ service: 'ratchet-api', parentSpanId: clientSpanId });
  const responseSpan = one('response');
  expect(responseSpan).toMatchObject({
    service: 'ratchet-worker',
    parentSpanId: request.spanId,
    attributes: { 'ratchet.response.id': response.id, 'ratchet.response.status': 'completed' },
  });
  const agent = one('agent_call');
  expect(agent.parentSpanId).toBe(responseSpan.spanId);
  expect(agent.attributes['ratchet.step.outcome']).toBe('completed');
  expect(agent.endMs).toBeGreaterThanOrEqual(agent.startMs);

  // The top scope's steps nest under the response; the sub-agent's under its agent step.
  const topModelCalls = named(ours, 'model_call mock');
  expect(topModelCalls).toHaveLength(2);
  const helperModelCalls = named(ours, 'model_call upstream');
  expect(helperModelCalls).toHaveLength(2);
  const toolSteps = named(ours, 'tool_call echo');
  expect(toolSteps).toHaveLength(2);
  for (const step of topModelCalls) expect(step.parentSpanId).toBe(responseSpan.spanId);
  for (const step of helperModelCalls) expect(step.parentSpanId).toBe(agent.spanId);
  expect(toolSteps.map((s) => s.parentSpanId).sort()).toEqual(
    [responseSpan.spanId, agent.spanId].sort(),
  );
  for (const step of [...topModelCalls, ...helperModelCalls, ...toolSteps]) {
    expect(step.service).toBe('ratchet-worker');
    expect(step.attributes['ratchet.response.id']).toBe(response.id);
  }

  // Each HTTP call is a client span under its step, and its server got that span's context.
  const toolCalls = named(ours, 'tool echo');
  expect(toolCalls.map((s) => s.parentSpanId).sort()).toEqual(
    toolSteps.map((s) => s.spanId).sort(),
  );
  expect(tools.calls.map((call) => call.traceparent).sort()).toEqual(
    toolCalls.map((span) => `00-${traceId}-${span.spanId}-01`).sort(),
  );
  const upstreamCalls = named(ours, 'upstream upstream');
  const helperStepIds = new Set(helperModelCalls.map((s) => s.spanId));
  for (const call of upstreamCalls) expect(helperStepIds.has(call.parentSpanId)).toBe(true);
  expect(upstreamCalls.filter((s) => s.status === 2)).toHaveLength(1); // the 503
  expect(upstream.requests.map((r) => r.headers.traceparent).sort()).toEqual(
    upstreamCalls.map((span) => `00-${traceId}-${span.spanId}-01`).sort(),
  );
  for (const call of named(ours, 'upstream mock')) {
    expect(topModelCalls.map((s) => s.spanId)).toContain(call.parentSpanId);
  }

  // The retry's log line, written inside the helper's first model call, names its trace.
  const retried = helperModelCalls.find((step) =>
    upstreamCalls.some((call) => call.parentSpanId === step.spanId && call.status === 2),
  )!;
  const logLine = worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((entry) => String(entry.msg).includes("model 'upstream' attempt 1 failed"));
  expect(logLine).toMatchObject({
    trace_id: traceId,
    span_id: retried.spanId,
    responseId: response.id,
    stepId: retried.attributes['ratchet.step.id'],
  });
});

it('exports nothing without an endpoint', async () => {
  const [port] = [await freePort()];
  const adminKey = `admin-${hex(12)}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('tracing'),
    LOG_LEVEL: 'warn',
    PORT: String(port),
    RATCHET_ADMIN_KEY: adminKey,
    RATCHET_CONFIG: writeConfig(`models:\n  mock: { provider: mock }\n`),
  };
  const all = startProcess('dist/apps/all/main.js', env);
  started.push(all);
  await waitForReady(`http://127.0.0.1:${port}/readyz`, all);
  expect(all.output()).not.toContain('traces to');
  const before = receiver.spans.length;
  const created = await fetch(`http://127.0.0.1:${port}/v1/responses`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${adminKey}`,
      'content-type': 'application/json',
      traceparent: `00-${hex(16)}-${hex(8)}-01`,
    },
    body: JSON.stringify({ model: 'mock', input: 'Hi' }),
  });
  expect(((await created.json()) as { status: string }).status).toBe('completed');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.spans.length).toBe(before);
});

it('keeps a step that another worker runs after a crash in the trace its request began', async () => {
  const port = await freePort();
  const adminKey = `admin-${hex(12)}`;
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('tracing'),
    LOG_LEVEL: 'warn',
    PORT: String(port),
    RATCHET_ADMIN_KEY: adminKey,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    RATCHET_CONFIG: writeConfig(`models:\n  mock: { provider: mock }\n`),
  };
  const api = startProcess('dist/apps/api/main.js', env);
  const first = startProcess('dist/apps/worker/main.js', {
    ...env,
    OTEL_SERVICE_NAME: 'worker-that-dies',
  });
  started.push(api, first);
  await waitForReady(`http://127.0.0.1:${port}/readyz`, api);
  await waitForOutput(first, 'processing jobs');

  const call = (pathname: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${port}${pathname}`, {
      ...init,
      headers: {
        authorization: `Bearer ${adminKey}`,
        'content-type': 'application/json',
        ...init.headers,
      },
    });
  const traceId = hex(16);
  const created = await call('/v1/responses', {
    method: 'POST',
    headers: { traceparent: `00-${traceId}-${hex(8)}-01` },
    body: JSON.stringify({ model: 'mock', input: '/sleep 3000\nSlowly.', background: true }),
  });
  const { id } = (await created.json()) as { id: string };
  // The model call is running on the first worker: it dies there.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const progress = (await (await call(`/v1/responses/${id}/steps`)).json()) as {
      steps: { status: string }[];
    };
    if (progress.steps[0]?.status === 'running') break;
    if (Date.now() > deadline) throw new Error('the step never started');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await first.stop('SIGKILL');
  const second = startProcess('dist/apps/worker/main.js', {
    ...env,
    OTEL_SERVICE_NAME: 'worker-that-takes-over',
  });
  started.push(second);

  const spans = await spansUntil((all) =>
    all.some((s) => s.name === 'response' && s.attributes['ratchet.response.id'] === id),
  );
  const ours = spans.filter((s) => s.traceId === traceId);
  const response = ours.find((s) => s.name === 'response');
  expect(response).toMatchObject({
    service: 'worker-that-takes-over',
    attributes: { 'ratchet.response.status': 'completed' },
  });
  expect(response!.parentSpanId).toBe(ours.find((s) => s.name === 'POST /v1/responses')?.spanId);
  const rerun = ours.filter((s) => s.name === 'model_call mock');
  expect(rerun).toHaveLength(1);
  expect(rerun[0]).toMatchObject({
    service: 'worker-that-takes-over',
    parentSpanId: response!.spanId,
    attributes: { 'ratchet.step.attempt': 2, 'ratchet.response.id': id },
  });
});

it('puts MCP calls in the trace, and MCP servers receive its traceparent', async () => {
  const mcp = await startFakeMcp();
  try {
    const port = await freePort();
    const adminKey = `admin-${hex(12)}`;
    const all = startProcess('dist/apps/all/main.js', {
      DATABASE_URL: database.url,
      REDIS_URL,
      RATCHET_REDIS_PREFIX: testRedisPrefix('tracing'),
      LOG_LEVEL: 'warn',
      PORT: String(port),
      RATCHET_ADMIN_KEY: adminKey,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
      RATCHET_CONFIG: writeConfig(
        `models:\n  mock: { provider: mock }\ntools:\n  fake: { type: mcp, url: ${mcp.url} }\n`,
      ),
    });
    started.push(all);
    await waitForReady(`http://127.0.0.1:${port}/readyz`, all);
    const traceId = hex(16);
    const created = await fetch(`http://127.0.0.1:${port}/v1/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${adminKey}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${hex(8)}-01`,
      },
      body: JSON.stringify({
        model: 'mock',
        input: '/call fake__echo {"text": "hello"}',
        tools: [{ type: 'function', name: 'fake' }],
      }),
    });
    const response = (await created.json()) as { id: string; status: string };
    expect(response.status).toBe('completed');

    const spans = await spansUntil((all) =>
      all.some((s) => s.name === 'response' && s.attributes['ratchet.response.id'] === response.id),
    );
    const ours = spans.filter((s) => s.traceId === traceId);
    const mcpSpans = ours.filter((s) => s.name === 'mcp');
    expect(mcpSpans.length).toBeGreaterThan(0);
    expect(mcpSpans.every((s) => s.service === 'ratchet' && s.kind === 3)).toBe(true); // CLIENT
    // The tool call's HTTP requests hang under the tool_call step.
    const toolStep = ours.find((s) => s.name === 'tool_call fake__echo');
    expect(toolStep).toBeDefined();
    expect(mcpSpans.some((s) => s.parentSpanId === toolStep!.spanId)).toBe(true);
    // What the server received: traceparents of this trace, each naming an mcp span.
    const carried = mcp.httpRequests
      .map((request) => request.headers.traceparent)
      .filter((value): value is string => typeof value === 'string');
    expect(carried.length).toBeGreaterThan(0);
    const mcpSpanIds = new Set(mcpSpans.map((s) => s.spanId));
    for (const value of carried) {
      const [, trace, span] = value.split('-');
      expect(trace).toBe(traceId);
      expect(mcpSpanIds.has(span)).toBe(true);
    }
  } finally {
    await mcp.close();
  }
});
