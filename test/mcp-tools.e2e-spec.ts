import type OpenAI from 'openai';
import { withClient } from './support/database';
import { startFakeMcp, type FakeMcp } from './support/fake-mcp';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { checkStream } from './support/stream-checker';
import { waitFor } from './support/wait';

// MCP servers of the config as tool sources, end to end through the openai SDK: a request
// naming a server offers its tools (listed once per conversation, shown as mcp_list_tools),
// their calls run as steps and show as mcp_call items with the server's label and the tool's
// own name, in parallel, cancellable, with errors as outputs the model reads.

const TOKEN = 'Bearer mcp-secret-token-4711';

let fake: FakeMcp;
let flaky: FakeMcp;
let ratchet: TestRatchet;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeMcp({ requireHeaders: { authorization: TOKEN } });
  flaky = await startFakeMcp();
  ratchet = await startRatchet('mcp_tools', {
    env: { FAKE_MCP_TOKEN: TOKEN },
    configYaml: `
models:
  mock: { provider: mock }
tools:
  fake:
    type: mcp
    url: ${fake.url}
    headers: { Authorization: "\${FAKE_MCP_TOKEN}" }
    timeoutMs: 20000
  narrow:
    type: mcp
    url: ${fake.url}
    headers: { Authorization: "\${FAKE_MCP_TOKEN}" }
    allowedTools: [echo]
  flaky:
    type: mcp
    url: ${flaky.url}
  gone:
    type: mcp
    url: http://127.0.0.1:1/mcp
  helper:
    type: agent
    model: mock
    tools: [fake]
mcp:
  allow: ['127.0.0.1']
`,
  });
  client = ratchet.client(await ratchet.newKey('mcp'));
});
afterAll(async () => {
  await ratchet?.close();
  await fake?.close();
  await flaky?.close();
});

const server = (name: string): OpenAI.Responses.FunctionTool => ({
  type: 'function',
  name,
  parameters: null,
  strict: null,
});
const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');

type Output = OpenAI.Responses.ResponseOutputItem;
const ofType = <T extends Output['type']>(output: Output[], type: T) =>
  output.filter((item): item is Extract<Output, { type: T }> => item.type === type);

it('lists a configured server once, offers its tools as <label>__<tool>, and shows calls as mcp_call', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(['fake__echo', { text: 'hello' }]),
    tools: [server('fake')],
  });
  expect(response.status).toBe('completed');
  const [listing, call, answer] = response.output;
  expect(listing.type).toBe('mcp_list_tools');
  if (listing.type !== 'mcp_list_tools') return;
  expect(listing.server_label).toBe('fake');
  expect(listing.error ?? null).toBeNull();
  expect(listing.tools.map((tool) => tool.name)).toEqual(
    expect.arrayContaining(['echo', 'slow', 'fail', 'crash', 'image']),
  );
  const echo = listing.tools.find((tool) => tool.name === 'echo');
  expect(echo?.input_schema).toMatchObject({ type: 'object' });
  expect(
    call.type === 'mcp_call' && [call.server_label, call.name, call.output, call.error],
  ).toEqual(['fake', 'echo', 'hello', null]);
  expect(answer.type === 'message' && response.output_text).toBe('fake__echo: hello');

  // The header reached the server (it refuses requests without it), the step id is the hint.
  const made = fake.calls.find((one) => one.name === 'echo' && one.arguments.text === 'hello');
  expect(made?.meta['ratchet/idempotency-key']).toMatch(/^step_/);
  expect(JSON.stringify(response)).not.toContain('mcp-secret-token');

  // A continuation reuses the listing: no second mcp_list_tools item.
  const next = await client.responses.create({
    model: 'mock',
    previous_response_id: response.id,
    input: callsOf(['fake__echo', { text: 'again' }]),
    tools: [server('fake')],
  });
  expect(next.status).toBe('completed');
  expect(next.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(next.output_text).toBe('fake__echo: again');

  // Sent back by the client as items, the listing and the call read as they did.
  const sentBack = await client.responses.create({
    model: 'mock',
    input: [
      ...(response.output as OpenAI.Responses.ResponseInputItem[]),
      { role: 'user', content: callsOf(['fake__echo', { text: 'third' }]) },
    ],
    tools: [server('fake')],
  });
  expect(sentBack.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(sentBack.output_text).toBe('fake__echo: third');
});

it('lists once per conversation', async () => {
  const conversation = await client.conversations.create({});
  const first = await client.responses.create({
    model: 'mock',
    conversation: conversation.id,
    input: callsOf(['fake__echo', { text: 'one' }]),
    tools: [server('fake')],
  });
  expect(first.output.map((item) => item.type)).toEqual(['mcp_list_tools', 'mcp_call', 'message']);
  const second = await client.responses.create({
    model: 'mock',
    conversation: conversation.id,
    input: callsOf(['fake__echo', { text: 'two' }]),
    tools: [server('fake')],
  });
  expect(second.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(second.output_text).toBe('fake__echo: two');
});

it('fails a response whose tools would reach the model under one name', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: 'Hi',
    tools: [server('fake'), server('fake__echo')],
  });
  expect(response.status).toBe('failed');
  expect(response.error?.code).toBe('mcp_tool_name_collision');
  expect(response.error?.message).toMatch(/'fake__echo'/);
});

it('filters a server by allowedTools', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(['narrow__echo', { text: 'x' }], ['narrow__slow', { ms: 1 }]),
    tools: [server('narrow')],
  });
  const [listing] = ofType(response.output, 'mcp_list_tools');
  expect(listing.tools.map((tool) => tool.name)).toEqual(['echo']);
  const calls = ofType(response.output, 'mcp_call');
  expect(calls.map((call) => [call.name, call.output ?? null])).toEqual([
    ['echo', 'x'],
    ['slow', null],
  ]);
  expect(calls[1].error).toMatch(/^mcp_tool_not_allowed: /);
});

it('runs parallel calls in one round: text, an image, an isError result and a protocol error', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(
      ['fake__echo', { text: 'one' }],
      ['fake__image', {}],
      ['fake__fail', {}],
      ['fake__crash', {}],
    ),
    tools: [server('fake')],
  });
  expect(response.status).toBe('completed');
  const calls = ofType(response.output, 'mcp_call');
  expect(calls.map((call) => call.name)).toEqual(['echo', 'image', 'fail', 'crash']);
  expect(calls[0].output).toBe('one');
  expect(calls[1].output).toMatch(/\[image: image\/png, \d+ bytes\]/);
  expect(calls[2].status).toBe('failed');
  expect(calls[2].error).toMatch(/^mcp_tool_error: /);
  expect(calls[3].status).toBe('failed');
  expect(calls[3].error).toMatch(/^mcp_protocol_error: /);
  // The model read every outcome, errors included.
  const lines = response.output_text.split('\n');
  expect(lines[0]).toBe('fake__echo: one');
  expect(lines[2]).toMatch(/^fake__fail: \{"error":\{"code":"mcp_tool_error"/);
  expect(lines[3]).toMatch(/^fake__crash: \{"error":\{"code":"mcp_protocol_error"/);
});

it('fails the listing of an unreachable server and goes on without its tools', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: 'Hi there',
    tools: [server('gone')],
  });
  expect(response.status).toBe('completed');
  const [listing] = ofType(response.output, 'mcp_list_tools');
  expect(listing.server_label).toBe('gone');
  expect(listing.tools).toEqual([]);
  expect(listing.error).toMatch(/^mcp_unreachable: /);
  expect(response.output_text).toBe('You said: Hi there');

  const stream = await client.responses.create({
    model: 'mock',
    input: 'Hi there',
    tools: [server('gone')],
    stream: true,
  });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  expect(checkStream(events, { dialect: 'openai' })).toEqual([]);
  expect(events.map((event) => event.type)).toEqual(
    expect.arrayContaining([
      'response.mcp_list_tools.in_progress',
      'response.mcp_list_tools.failed',
    ]),
  );
  expect(events[events.length - 1].type).toBe('response.completed');
});

it('gives MCP servers to sub-agents', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(['helper', { input: callsOf(['fake__echo', { text: 'deep' }]) }]),
    tools: [server('helper')],
  });
  expect(response.status).toBe('completed');
  const [agent] = ofType(response.output, 'mcp_call');
  expect([agent.server_label, agent.name, agent.output]).toEqual([
    'agent',
    'helper',
    'fake__echo: deep',
  ]);
});

it('cancels a slow MCP call: the server is told', async () => {
  const started = await client.responses.create({
    model: 'mock',
    input: callsOf(['fake__slow', { ms: 20_000 }]),
    tools: [server('fake')],
    background: true,
  });
  const call = await fake.waitForCall((one) => one.name === 'slow' && !one.finished, 10_000);
  await client.responses.cancel(started.id);
  await waitFor('the call to be cancelled', () => call.cancelled, 5_000);
  const cancelled = await waitForResponse(client, started.id, {
    until: (status) => status !== 'in_progress',
  });
  expect(cancelled.status).toBe('cancelled');
});

it('reads a server that goes away mid-call as an error output, and completes', async () => {
  const pending = client.responses.create({
    model: 'mock',
    input: callsOf(['flaky__slow', { ms: 5_000 }]),
    tools: [server('flaky')],
  });
  await flaky.waitForCall((one) => one.name === 'slow', 10_000);
  await flaky.stop();
  const response = await pending;
  await flaky.restart();
  expect(response.status).toBe('completed');
  const [call] = ofType(response.output, 'mcp_call');
  expect(call.status).toBe('failed');
  expect(call.error).toMatch(/^mcp_(connection_lost|unreachable): /);
  expect(response.output_text).toMatch(/^flaky__slow: \{"error":/);
});

it('streams listings and calls as OpenAI does, in order, with gap-free sequence numbers', async () => {
  const stream = await client.responses.create({
    model: 'mock',
    input: callsOf(['fake__echo', { text: 'streamed' }]),
    tools: [server('fake')],
    stream: true,
  });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  events.forEach((event, i) => expect(event.sequence_number).toBe(i));
  expect(checkStream(events, { dialect: 'openai' })).toEqual([]);
  const mcp = events
    .filter(
      (event) =>
        event.type.startsWith('response.mcp') ||
        ((event.type === 'response.output_item.added' ||
          event.type === 'response.output_item.done') &&
          event.item.type.startsWith('mcp')),
    )
    .map((event) =>
      'item' in event && event.type.startsWith('response.output_item')
        ? `${event.type}:${event.item.type}`
        : event.type,
    )
    .filter((type, i, all) => type !== all[i - 1]);
  expect(mcp).toEqual([
    'response.output_item.added:mcp_list_tools',
    'response.mcp_list_tools.in_progress',
    'response.mcp_list_tools.completed',
    'response.output_item.done:mcp_list_tools',
    'response.output_item.added:mcp_call',
    'response.mcp_call_arguments.delta',
    'response.mcp_call_arguments.done',
    'response.mcp_call.in_progress',
    'response.mcp_call.completed',
    'response.output_item.done:mcp_call',
  ]);
  const completed = events[events.length - 1];
  expect(completed.type).toBe('response.completed');
  if (completed.type !== 'response.completed') return;
  expect(completed.response.output.map((item) => item.type)).toEqual([
    'mcp_list_tools',
    'mcp_call',
    'message',
  ]);
  expect(JSON.stringify(events)).not.toContain('mcp-secret-token');
});

describe('MCP servers a request names', () => {
  const named = (extra: Partial<OpenAI.Responses.Tool.Mcp> = {}): OpenAI.Responses.Tool.Mcp => ({
    type: 'mcp',
    server_label: 'remote',
    server_url: fake.url,
    require_approval: 'never',
    headers: { Authorization: TOKEN },
    ...extra,
  });

  async function refusal(
    tool: unknown,
  ): Promise<{ status: number; error: Record<string, unknown> }> {
    const answer = await ratchet.request('/v1/responses', {
      method: 'POST',
      body: JSON.stringify({ model: 'mock', input: 'hi', tools: [server('fake'), tool] }),
    });
    const body = (await answer.json()) as { error: Record<string, unknown> };
    return { status: answer.status, error: body.error };
  }

  it('are listed and called with their headers, which are sealed and never shown', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: callsOf(['remote__echo', { text: 'named' }], ['remote__image', {}]),
      tools: [named({ allowed_tools: ['echo', 'image'], server_description: 'The fake' })],
    });
    expect(response.status).toBe('completed');
    const [listing] = ofType(response.output, 'mcp_list_tools');
    expect([listing.server_label, listing.tools.map((tool) => tool.name)]).toEqual([
      'remote',
      ['echo', 'image'],
    ]);
    const calls = ofType(response.output, 'mcp_call');
    expect(calls.map((call) => [call.server_label, call.name, call.status])).toEqual([
      ['remote', 'echo', 'completed'],
      ['remote', 'image', 'completed'],
    ]);
    // The fake answers 401 without the header: the calls prove it arrived.
    expect(calls[0].output).toBe('named');
    expect(response.tools).toEqual([
      {
        type: 'mcp',
        server_label: 'remote',
        server_url: fake.url,
        allowed_tools: ['echo', 'image'],
        require_approval: 'never',
        server_description: 'The fake',
      },
    ]);

    const streamed = await client.responses.create({
      model: 'mock',
      input: callsOf(['remote__echo', { text: 'streamed' }]),
      tools: [named()],
      stream: true,
    });
    const events: unknown[] = [];
    for await (const event of streamed) events.push(event);
    expect(checkStream(events, { dialect: 'openai' })).toEqual([]);

    const seen = [
      JSON.stringify(response),
      JSON.stringify(await client.responses.retrieve(response.id)),
      JSON.stringify(await client.responses.inputItems.list(response.id)),
      JSON.stringify(events),
    ];
    for (const text of seen) expect(text).not.toContain('mcp-secret-token');
    const inClear = await withClient(ratchet.database.url, async (db) => {
      const tables = ['responses', 'scopes', 'steps', 'events', 'input_items'];
      let found = 0;
      for (const table of tables) {
        const { rows } = await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${table} t WHERE t::text LIKE '%mcp-secret-token%'`,
        );
        found += Number(rows[0].n);
      }
      return found;
    });
    expect(inClear).toBe(0);
  });

  it('must pass the allow-list: loopback names, metadata and other hosts are refused', async () => {
    for (const url of [
      'http://localhost:1/mcp',
      'http://169.254.169.254/mcp',
      'https://mcp.example.com/mcp',
      'file:///etc/passwd',
    ]) {
      const { status, error } = await refusal(named({ server_url: url }));
      expect(status).toBe(400);
      expect(error.param).toBe('tools[1].server_url');
      expect(error.type).toBe('invalid_request_error');
    }
  });

  it('refuse approval settings ratchet cannot honour, by name', async () => {
    const cases: [unknown, string][] = [
      ['sometimes', 'tools[1].require_approval'],
      [{ always: { read_only: true } }, 'tools[1].require_approval.always.read_only'],
    ];
    for (const [require_approval, param] of cases) {
      const { status, error } = await refusal({ ...named(), require_approval });
      expect(status).toBe(400);
      expect(error.param).toBe(param);
    }
  });
});
