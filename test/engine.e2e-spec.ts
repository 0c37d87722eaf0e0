import type OpenAI from 'openai';
import { Client } from 'pg';
import { chatCompletion, startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import { queryRows } from './support/database';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { waitFor } from './support/wait';

// The orchestration engine end to end: tool rounds, sub-agents, client-side tools, caps,
// background, cancel, delete and input items, with the official SDK as the client.

let tools: FakeTools;
let upstream: FakeOpenAI;

beforeAll(async () => {
  tools = await startFakeTools();
  upstream = await startFakeOpenAI();
});

afterAll(async () => {
  await tools?.close();
  await upstream?.close();
});

function configYaml(limits = '{ maxDepth: 8, maxIterations: 10 }'): string {
  return `
models:
  mock: { provider: mock }
  scripted: { provider: openai-chat, baseUrl: ${upstream.url}, upstreamModel: scripted-model }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
  sleep: { type: http, url: ${tools.url}/sleep, parameters: { type: object, properties: { ms: { type: integer } } } }
  broken: { type: http, url: ${tools.url}/fail }
  hang: { type: http, url: ${tools.url}/hang, timeoutMs: 60000 }
  inner: { type: agent, model: mock, description: Inner agent, tools: [echo] }
  outer: { type: agent, model: mock, description: Outer agent, tools: [inner] }
limits: ${limits}
`;
}

/** `/call name {json}` directive lines for the mock model. */
function calls(...list: [string, unknown][]): string {
  return list.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');
}

/** A function tool by name only: description and parameters come from the config. */
interface StepRow {
  id: string;
  scope_id: string;
  depth: number;
  round: number;
  index: number;
  kind: string;
  status: string;
  call_id: string | null;
  name: string | null;
  executed_by: string | null;
  started_at: Date | null;
  usage: { input_tokens: number; output_tokens: number } | null;
}

async function stepsOf(ratchet: TestRatchet, responseId: string): Promise<StepRow[]> {
  const client = new Client({ connectionString: ratchet.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<StepRow>(
      `SELECT s.id, s.scope_id, sc.depth, s.round, s.index, s.kind::text, s.status::text, s.call_id,
              s.name, s.executed_by, s.started_at,
              CASE WHEN s.input_tokens IS NOT NULL
                   THEN json_build_object('input_tokens', s.input_tokens,
                                          'output_tokens', s.output_tokens) END AS usage
         FROM steps s JOIN scopes sc ON sc.id = s.scope_id
        WHERE s.response_id = $1 ORDER BY sc.depth, s.scope_id, s.round, s.index`,
      [responseId],
    );
    return rows;
  } finally {
    await client.end();
  }
}

describe('with default limits', () => {
  let ratchet: TestRatchet;
  let client: OpenAI;

  beforeAll(async () => {
    ratchet = await startRatchet('engine', { configYaml: configYaml() });
    client = ratchet.client(await ratchet.newKey());
  });
  afterAll(() => ratchet?.close());

  it('runs parallel server-side tool calls and shows each as an mcp_call with its output', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { n: 1 }], ['echo', { n: 2 }], ['echo', { n: 3 }]),
      tools: [serverTool('echo')],
    });

    expect(response.status).toBe('completed');
    const types = response.output.map((item) => item.type);
    expect(types).toEqual(['mcp_call', 'mcp_call', 'mcp_call', 'message']);
    const served = response.output.slice(0, 3) as OpenAI.Responses.ResponseOutputItem.McpCall[];
    expect(served.map((item) => [item.server_label, item.name, item.arguments])).toEqual([
      ['http', 'echo', '{"n":1}'],
      ['http', 'echo', '{"n":2}'],
      ['http', 'echo', '{"n":3}'],
    ]);
    expect(served.map((item) => item.output)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    expect(served.map((item) => [item.status, item.error])).toEqual(
      Array(3).fill(['completed', null]),
    );
    expect(response.output_text).toBe('echo: {"n":1}\necho: {"n":2}\necho: {"n":3}');
    expect(response.tools).toEqual([
      {
        type: 'function',
        name: 'echo',
        description: 'Echoes its arguments',
        parameters: { type: 'object' },
        strict: null,
      },
    ]);

    const steps = await stepsOf(ratchet, response.id);
    expect(steps.map((s) => [s.round, s.index, s.kind, s.status])).toEqual([
      [0, 0, 'model_call', 'completed'],
      [1, 0, 'tool_call', 'completed'],
      [1, 1, 'tool_call', 'completed'],
      [1, 2, 'tool_call', 'completed'],
      [2, 0, 'model_call', 'completed'],
    ]);
    // Each call's step ran the call the item shows, under the model's own call id.
    expect(steps.slice(1, 4).map((s) => s.call_id)).toEqual(
      served.map((item) => (item as { call_id?: string }).call_id),
    );
  });

  it('runs a round of calls in the deciding worker, recorded with what follows in one statement', async () => {
    // Timestamps to the microsecond: a statement's now() is the same in every row it writes.
    const callsOf = async (id: string) =>
      queryRows<{ claimed_with_model: boolean; recorded_with_next: boolean; gap_ms: number }>(
        ratchet.database.url,
        `SELECT s.started_at = p.completed_at AS claimed_with_model,
                s.completed_at = n.started_at AS recorded_with_next,
                (extract(epoch FROM n.started_at - s.completed_at) * 1000)::float8 AS gap_ms
           FROM steps s
           JOIN steps p ON p.response_id = s.response_id AND p.scope_id = s.scope_id
                       AND p.round = s.round - 1
           JOIN steps n ON n.scope_id = s.scope_id AND n.round = s.round + 1 AND n.index = 0
          WHERE s.response_id = $1 AND s.kind = 'tool_call' ORDER BY s.index`,
        [id],
      );
    const quick = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { q: 1 }], ['echo', { q: 2 }], ['echo', { q: 3 }]),
      tools: [serverTool('echo')],
    });
    expect(quick.status).toBe('completed');
    // Each call was claimed by the statement that recorded the model's outcome, and all three
    // outcomes went in with the next model call, by the statement that claimed it.
    expect(await callsOf(quick.id)).toEqual(
      Array(3).fill(
        expect.objectContaining({ claimed_with_model: true, recorded_with_next: true }),
      ),
    );

    // A call still running 20 ms after the other finished: that one is recorded as it comes.
    const slow = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { q: 4 }], ['sleep', { ms: 400 }]),
      tools: [serverTool('echo'), serverTool('sleep')],
    });
    expect(slow.status).toBe('completed');
    const [echo, sleep] = await callsOf(slow.id);
    expect(echo).toMatchObject({ claimed_with_model: true, recorded_with_next: false });
    expect(echo.gap_ms).toBeGreaterThan(300);
    expect(sleep.claimed_with_model).toBe(true);
  });

  it('sends each tool its step id as Idempotency-Key', async () => {
    const before = tools.calls.length;
    await client.responses.create({
      model: 'mock',
      input: calls(['echo', { k: 1 }]),
      tools: [serverTool('echo')],
    });
    const call = tools.calls[before];
    expect(call.idempotencyKey).toMatch(/^step_[0-9a-f]{24}$/);
    expect(call.body).toEqual({ k: 1 });
  });

  it('runs sequential rounds against an upstream model, with the real call ids', async () => {
    upstream.enqueue(
      {
        kind: 'json',
        body: chatCompletion({
          text: null,
          toolCalls: [{ id: 'call_A', name: 'echo', arguments: '{"step":1}' }],
        }),
      },
      {
        kind: 'json',
        body: chatCompletion({
          text: null,
          toolCalls: [{ id: 'call_B', name: 'echo', arguments: '{"step":2}' }],
        }),
      },
      {
        kind: 'json',
        body: chatCompletion({
          text: 'Both done.',
          usage: { prompt_tokens: 30, completion_tokens: 3 },
        }),
      },
    );
    const before = upstream.requests.length;
    const response = await client.responses.create({
      model: 'scripted',
      input: 'go',
      tools: [serverTool('echo')],
    });

    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('Both done.');
    const third = upstream.requests[before + 2].body.messages as Record<string, unknown>[];
    expect(third).toEqual([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_A', type: 'function', function: { name: 'echo', arguments: '{"step":1}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_A', content: '{"step":1}' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_B', type: 'function', function: { name: 'echo', arguments: '{"step":2}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_B', content: '{"step":2}' },
    ]);
    expect(response.usage?.input_tokens).toBe(11 + 11 + 30);
    expect(response.usage?.output_tokens).toBe(7 + 7 + 3);

    // A later turn gives the model the same conversation whether the client continues with
    // previous_response_id or sends the output back itself (as full-history clients do, some
    // without each call's output): the calls, paired with their outputs under the model's ids.
    const again = { kind: 'json' as const, body: chatCompletion({ text: 'Again.' }) };
    upstream.enqueue(again, again, again);
    const next = 'and again';
    await client.responses.create({
      model: 'scripted',
      previous_response_id: response.id,
      input: next,
    });
    await client.responses.create({
      model: 'scripted',
      input: [
        { role: 'user', content: 'go' },
        ...(response.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: next },
      ],
    });
    const expected = [
      ...third,
      { role: 'assistant', content: 'Both done.' },
      { role: 'user', content: next },
    ];
    // The Agents SDK sends server calls back without their output: ratchet has it stored.
    const withoutOutputs = response.output.map((item) => {
      if (item.type !== 'mcp_call') return item;
      const { output: _output, ...rest } = item;
      return rest;
    });
    await client.responses.create({
      model: 'scripted',
      input: [
        { role: 'user', content: 'go' },
        ...(withoutOutputs as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: next },
      ],
    });
    expect(upstream.requests[before + 3].body.messages).toEqual(expected);
    expect(upstream.requests[before + 4].body.messages).toEqual(expected);
    expect(upstream.requests[before + 5].body.messages).toEqual(expected);
  });

  it('gives a failed tool call to the model as an error output, and goes on', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['broken', {}], ['echo', { ok: true }]),
      tools: [serverTool('broken'), serverTool('echo')],
    });
    expect(response.status).toBe('completed');
    const served = response.output.filter((item) => item.type === 'mcp_call');
    expect(served[0]).toMatchObject({
      status: 'failed',
      output: null,
      error: expect.stringMatching(/^tool_http_error: .*500/) as unknown,
    });
    expect(served[1]).toMatchObject({ status: 'completed', output: '{"ok":true}', error: null });
    // The model read the error as an object with its code.
    expect(response.output_text).toContain('broken: {"error":{"code":"tool_http_error"');
  });

  it('ends with client-side calls after the server-side siblings, and resumes from their outputs', async () => {
    const first = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { server: true }], ['lookup_time', { tz: 'UTC' }]),
      tools: [
        serverTool('echo'),
        { type: 'function', name: 'lookup_time', parameters: { type: 'object' }, strict: null },
      ],
    });
    expect(first.status).toBe('completed');
    expect(first.output.map((item) => item.type)).toEqual(['mcp_call', 'function_call']);
    const clientCall = first.output[1] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(clientCall.name).toBe('lookup_time');

    const second = await client.responses.create({
      model: 'mock',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: clientCall.call_id, output: '12:00' }],
      tools: [serverTool('echo'), serverTool('lookup_time')],
    });
    expect(second.status).toBe('completed');
    // The mock lists every tool result that ends the conversation: the server's and the client's.
    expect(second.output_text).toBe('echo: {"server":true}\nlookup_time: 12:00');
  });

  it('runs agent tools two levels deep and sums usage over the whole tree', async () => {
    const innerTask = calls(['echo', { deep: 2 }]);
    const outerTask = calls(['inner', { input: innerTask }]);
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['outer', { input: outerTask }]),
      tools: [serverTool('outer')],
    });

    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('outer: inner: echo: {"deep":2}');
    // Sub-agent internals stay out of the top-level output.
    expect(response.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
    expect(response.output[0]).toMatchObject({
      server_label: 'agent',
      name: 'outer',
      output: 'inner: echo: {"deep":2}',
    });

    const steps = await stepsOf(ratchet, response.id);
    expect(steps.map((s) => [s.depth, s.kind, s.name])).toEqual([
      [0, 'model_call', null],
      [0, 'agent_call', 'outer'],
      [0, 'model_call', null],
      [1, 'model_call', null],
      [1, 'agent_call', 'inner'],
      [1, 'model_call', null],
      [2, 'model_call', null],
      [2, 'tool_call', 'echo'],
      [2, 'model_call', null],
    ]);
    expect(steps.every((s) => s.status === 'completed')).toBe(true);
    // Every model call's usage counts: six model calls across three scopes.
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    const modelCalls = steps.filter((s) => s.kind === 'model_call').length;
    expect(modelCalls).toBe(6);
  });

  it('completes a background response with parallel tool calls and a sub-agent', async () => {
    const queued = await client.responses.create({
      model: 'mock',
      input: calls(
        ['echo', { a: 1 }],
        ['sleep', { ms: 100 }],
        ['inner', { input: calls(['echo', { from: 'agent' }]) }],
      ),
      tools: [serverTool('echo'), serverTool('sleep'), serverTool('inner')],
      background: true,
    });
    expect(queued.status).toBe('queued');
    const done = await waitForResponse(client, queued.id);

    expect(done.status).toBe('completed');
    expect(done.output.map((item) => item.type)).toEqual([
      ...Array<string>(3).fill('mcp_call'),
      'message',
    ]);
    expect(
      done.output.map((item) => (item.type === 'mcp_call' ? item.server_label : null)),
    ).toEqual(['http', 'http', 'agent', null]);
    expect(done.output_text).toBe(
      'echo: {"a":1}\nsleep: {"slept":100}\ninner: echo: {"from":"agent"}',
    );

    const steps = await stepsOf(ratchet, done.id);
    expect(steps.map((s) => [s.depth, s.round, s.index, s.kind, s.name])).toEqual([
      [0, 0, 0, 'model_call', null],
      [0, 1, 0, 'tool_call', 'echo'],
      [0, 1, 1, 'tool_call', 'sleep'],
      [0, 1, 2, 'agent_call', 'inner'],
      [0, 2, 0, 'model_call', null],
      [1, 0, 0, 'model_call', null],
      [1, 1, 0, 'tool_call', 'echo'],
      [1, 2, 0, 'model_call', null],
    ]);
    // Usage is the sum over every model call of the tree, the sub-agent's included.
    const sum = (key: 'input_tokens' | 'output_tokens') =>
      steps.reduce((total, step) => total + (step.usage?.[key] ?? 0), 0);
    expect(done.usage?.input_tokens).toBe(sum('input_tokens'));
    expect(done.usage?.output_tokens).toBe(sum('output_tokens'));
    expect(steps.filter((s) => s.usage !== null).map((s) => s.kind)).toEqual(
      Array(4).fill('model_call'),
    );
    expect(done.usage?.total_tokens).toBe(sum('input_tokens') + sum('output_tokens'));
  });

  it('refuses tool calls beyond max_tool_calls, telling the model why', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { n: 1 }], ['echo', { n: 2 }], ['echo', { n: 3 }]),
      tools: [serverTool('echo')],
      // The SDK's types lag the API here; the field is part of the Responses API.
      ...({ max_tool_calls: 2 } as object),
    });
    expect(response.status).toBe('completed');
    const served = response.output.filter((item) => item.type === 'mcp_call');
    expect(served.map((item) => [item.status, item.output, item.error])).toEqual([
      ['completed', '{"n":1}', null],
      ['completed', '{"n":2}', null],
      [
        'failed',
        null,
        'max_tool_calls: This call was not run: the response reached its max_tool_calls limit.',
      ],
    ]);
    // The model read why, as an error object.
    expect(response.output_text).toContain('echo: {"error":{"code":"max_tool_calls"');
  });

  it('makes one call per round when parallel_tool_calls is false', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { n: 1 }], ['echo', { n: 2 }]),
      tools: [serverTool('echo')],
      parallel_tool_calls: false,
    });
    expect(response.output.filter((item) => item.type === 'mcp_call')).toHaveLength(1);
  });

  it('enforces tool_choice: none removes calls, a named function must be called', async () => {
    const none = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { n: 1 }]),
      tools: [serverTool('echo')],
      tool_choice: 'none',
    });
    expect(none.output.map((item) => item.type)).toEqual(['message']);

    const named = await client.responses.create({
      model: 'mock',
      input: 'no directives here',
      tools: [serverTool('echo')],
      tool_choice: { type: 'function', name: 'echo' },
    });
    expect(named.status).toBe('completed');
    expect(named.output[0]).toMatchObject({ type: 'mcp_call', name: 'echo', status: 'completed' });
  });

  it('runs in the background: queued, then polled to completion', async () => {
    const queued = await client.responses.create({
      model: 'mock',
      input: calls(['sleep', { ms: 200 }]),
      tools: [serverTool('sleep')],
      background: true,
    });
    expect(queued.status).toBe('queued');
    const done = await waitForResponse(client, queued.id);
    expect(done.status).toBe('completed');
    expect(done.output_text).toBe('sleep: {"slept":200}');
  });

  it('cancels a background response mid tool call: the tool connection closes within a second', async () => {
    const before = tools.calls.length;
    const queued = await client.responses.create({
      model: 'mock',
      input: calls(['hang', {}]),
      tools: [serverTool('hang')],
      background: true,
    });
    const call = await waitFor(
      'the tool call',
      () => tools.calls.slice(before).find((c) => c.path === '/hang'),
      10_000,
      20,
    );
    const cancelledAt = Date.now();
    const cancelled = await client.responses.cancel(queued.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.output).toEqual([
      expect.objectContaining({
        type: 'mcp_call',
        name: 'hang',
        status: 'incomplete',
        output: null,
        error: expect.stringMatching(/^not_finished: /) as unknown,
      }),
    ]);

    const closeDeadline = cancelledAt + 1000;
    while (call.abortedAt === null && Date.now() < closeDeadline + 200) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(call.abortedAt).not.toBeNull();
    expect(call.abortedAt! - cancelledAt).toBeLessThan(1000);

    // Idempotent: cancelling again returns it unchanged.
    const again = await client.responses.cancel(queued.id);
    expect(again).toEqual(cancelled);
    const steps = await stepsOf(ratchet, queued.id);
    expect(steps.map((s) => s.status)).toEqual(['completed', 'cancelled']);
  });

  it('refuses to cancel a foreground response', async () => {
    const response = await client.responses.create({ model: 'mock', input: 'quick' });
    const result = await ratchet.request(`/v1/responses/${response.id}/cancel`, {
      method: 'POST',
      key: null,
      headers: { authorization: `Bearer ${client.apiKey}` },
    });
    expect(result.status).toBe(400);
    expect(await result.json()).toMatchObject({
      error: {
        type: 'invalid_request_error',
        message: 'Only background responses can be cancelled.',
      },
    });
  });

  it('deletes a response, which is then gone', async () => {
    const response = await client.responses.create({ model: 'mock', input: 'delete me' });
    const deleted: unknown = await client.responses.delete(response.id);
    expect(deleted).toEqual({ id: response.id, object: 'response', deleted: true });
    await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });
    const raw = await ratchet.request(`/v1/responses/${response.id}`, { method: 'DELETE' });
    expect(raw.status).toBe(404);
  });

  it('answers DELETE with {id, object, deleted}', async () => {
    const response = await client.responses.create({ model: 'mock', input: 'delete me too' });
    const raw = await ratchet.request(`/v1/responses/${response.id}`, { method: 'DELETE' });
    expect(await raw.json()).toEqual({ id: response.id, object: 'response', deleted: true });
  });

  it('pages input items with limit, order and after', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: ['one', 'two', 'three', 'four', 'five'].map((text, i) => ({
        type: 'message' as const,
        id: `msg_item${i}`,
        role: 'user' as const,
        content: text,
      })),
    });
    const first = await client.responses.inputItems.list(response.id, { limit: 2 });
    expect(first.data.map((item) => item.id)).toEqual(['msg_item4', 'msg_item3']);
    expect(first.has_more).toBe(true);

    const raw = await ratchet.request(
      `/v1/responses/${response.id}/input_items?limit=2&order=asc&after=msg_item1`,
    );
    expect(await raw.json()).toEqual({
      object: 'list',
      data: [
        {
          type: 'message',
          id: 'msg_item2',
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: 'three' }],
        },
        {
          type: 'message',
          id: 'msg_item3',
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: 'four' }],
        },
      ],
      first_id: 'msg_item2',
      last_id: 'msg_item3',
      has_more: true,
    });

    const all: string[] = [];
    for await (const item of client.responses.inputItems.list(response.id, {
      limit: 2,
      order: 'asc',
    })) {
      all.push(item.id);
    }
    expect(all).toEqual(['msg_item0', 'msg_item1', 'msg_item2', 'msg_item3', 'msg_item4']);

    for (const [query, param] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['order=up', 'order'],
      ['after=msg_nope', 'after'],
    ]) {
      const bad = await ratchet.request(`/v1/responses/${response.id}/input_items?${query}`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { param: string } }).error.param).toBe(param);
    }
  });

  it.each([
    [{ model: 'mock', input: 'x', tool_choice: 'sometimes' }, 'tool_choice', 400],
    [
      { model: 'mock', input: 'x', tool_choice: { type: 'function', name: 'echo' } },
      'tool_choice',
      400,
    ],
    [
      {
        model: 'mock',
        input: 'x',
        tools: [{ type: 'function', name: 'echo' }],
        tool_choice: 'required',
        parallel_tool_calls: 'yes',
      },
      'parallel_tool_calls',
      400,
    ],
    [{ model: 'mock', input: 'x', max_tool_calls: 0 }, 'max_tool_calls', 400],
    [{ model: 'mock', input: 'x', top_p: 2 }, 'top_p', 400],
    [{ model: 'mock', input: 'x', store: 'yes' }, 'store', 400],
    [{ model: 'mock', input: 'x', instructions: 5 }, 'instructions', 400],
    [
      { model: 'mock', input: 'x', text: { format: { type: 'json_schema', name: 'x' } } },
      'text.format.schema',
      400,
    ],
    [
      { model: 'mock', input: [{ type: 'function_call_output', output: 'x' }] },
      'input[0].call_id',
      400,
    ],
    [
      { model: 'mock', input: [{ type: 'function_call', call_id: 'c', arguments: '{}' }] },
      'input[0].name',
      400,
    ],
    [
      { model: 'mock', input: 'x', tools: [serverTool('echo'), serverTool('echo')] },
      'tools[1].name',
      400,
    ],
    [
      { model: 'mock', input: 'x', previous_response_id: 'resp_unknown' },
      'previous_response_id',
      404,
    ],
  ])('rejects %j naming %s', async (body, param, status) => {
    const result = await ratchet.request('/v1/responses', {
      method: 'POST',
      body: JSON.stringify(body),
      key: null,
      headers: { authorization: `Bearer ${client.apiKey}` },
    });
    expect(result.status).toBe(status);
    expect(((await result.json()) as { error: { param: string } }).error.param).toBe(param);
  });
});

describe('caps', () => {
  let ratchet: TestRatchet;
  let client: OpenAI;

  beforeAll(async () => {
    ratchet = await startRatchet('engine-caps', {
      configYaml: configYaml(
        '{ maxDepth: 1, maxIterations: 2, maxSteps: 12, maxDurationMs: 1500, maxConcurrentStepsPerScope: 2 }',
      ),
    });
    client = ratchet.client(await ratchet.newKey());
  });
  afterAll(() => ratchet?.close());

  it('maxDepth 1: an agent may run, an agent inside it may not (its caller hears why)', async () => {
    const outerTask = calls(['inner', { input: 'hello' }]);
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['outer', { input: outerTask }]),
      tools: [serverTool('outer')],
    });
    expect(response.status).toBe('completed');
    expect(response.output_text).toContain('outer: inner: {"error":{"code":"max_depth"');
  });

  it('maxIterations 2: a second model call may answer after a tool round', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['echo', { n: 1 }]),
      tools: [serverTool('echo')],
    });
    expect(response.status).toBe('completed');
  });

  it('maxIterations 2: the third model call is not made; the response ends incomplete', async () => {
    const loop = {
      kind: 'json' as const,
      body: chatCompletion({
        text: null,
        toolCalls: [{ id: 'call_loop', name: 'echo', arguments: '{}' }],
      }),
    };
    upstream.enqueue(loop, loop);
    const before = upstream.requests.length;
    const response = await client.responses.create({
      model: 'scripted',
      input: 'loop',
      tools: [serverTool('echo')],
    });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_iterations' });
    expect(upstream.requests.length - before).toBe(2);
    expect(response.output.map((item) => item.type)).toEqual(['mcp_call', 'mcp_call']);
    // Both calls keep the model's own call id, repeated as the upstream repeated it.
    expect(response.output.map((item) => (item as { call_id?: string }).call_id)).toEqual([
      'call_loop',
      'call_loop',
    ]);
  });

  it('maxSteps is one budget for the whole tree: sub-agents draw from it', async () => {
    // Top scope: a model call and 3 agent steps (4); each agent: model, echo, model (3 each).
    // That is 13 steps before the final top-level model call: more than maxSteps 12 allows.
    const task = calls(['echo', { n: 1 }]);
    const response = await client.responses.create({
      model: 'mock',
      input: calls(
        ['inner', { input: task }],
        ['inner', { input: task }],
        ['inner', { input: task }],
      ),
      tools: [serverTool('inner')],
    });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_steps' });
    const steps = await stepsOf(ratchet, response.id);
    expect(steps.length).toBeLessThanOrEqual(12);
  });

  it('maxConcurrentStepsPerScope 2: four sibling calls run two at a time', async () => {
    const started = Date.now();
    const sleep = ['sleep', { ms: 300 }] as [string, unknown];
    const before = tools.calls.length;
    const response = await client.responses.create({
      model: 'mock',
      input: calls(sleep, sleep, sleep, sleep),
      tools: [serverTool('sleep')],
    });
    expect(response.status).toBe('completed');
    const mine = tools.calls.slice(before);
    expect(mine).toHaveLength(4);
    // No more than two at once, by a sweep over their starts and ends (an end before a start
    // of the same millisecond). Counting the calls each one overlaps would not do: with two
    // at a time, a call that starts a little after its sibling overlaps it and the one that
    // follows it.
    const edges = mine
      .flatMap((call): [number, number][] => [
        [call.startedAt, 1],
        [call.endedAt ?? Infinity, -1],
      ])
      .sort(([a, up], [b, down]) => a - b || up - down);
    let inFlight = 0;
    let most = 0;
    for (const [, change] of edges) most = Math.max(most, (inFlight += change));
    expect(most).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });

  it('maxDurationMs ends a response that runs too long, aborting its tool call', async () => {
    const started = Date.now();
    const response = await client.responses.create({
      model: 'mock',
      input: calls(['sleep', { ms: 5000 }]),
      tools: [serverTool('sleep')],
    });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'max_duration' });
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
