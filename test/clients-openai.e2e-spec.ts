import OpenAI from 'openai';
import { serverRunsSince, startClientsRatchet, type ClientsRatchet } from './support/clients';
import { waitForResponse } from './support/response-status';

// The official openai SDK (v7), unmodified, against ratchet: plain and streamed calls, the
// stream helper (which throws on any event it does not know), background runs, resuming,
// cancelling, and tool calls of both kinds. Every tool must run exactly once.

let setup: ClientsRatchet;
let client: OpenAI;

beforeAll(async () => {
  setup = await startClientsRatchet('clients_openai');
  client = setup.ratchet.client(setup.key);
});
afterAll(() => setup?.close());

const weather: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  parameters: null,
  strict: null,
};
const researcher: OpenAI.Responses.FunctionTool = { ...weather, name: 'researcher' };
const lookupTime: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'lookup_time',
  description: 'The time in a time zone',
  parameters: { type: 'object', properties: { tz: { type: 'string' } } },
  strict: null,
};

const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');

it('creates a response whose server-side calls it shows as mcp_call items, run once each', async () => {
  const before = setup.tools.calls.length;
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(
      ['get_weather', { city: 'Paris' }],
      ['researcher', { input: callsOf(['get_weather', { city: 'Oslo' }]) }],
    ),
    tools: [weather, researcher],
  });

  expect(response.status).toBe('completed');
  const [direct, agent, answer] = response.output;
  expect(direct.type === 'mcp_call' && [direct.server_label, direct.name, direct.output]).toEqual([
    'http',
    'get_weather',
    '{"city":"Paris"}',
  ]);
  expect(agent.type === 'mcp_call' && [agent.server_label, agent.name, agent.output]).toEqual([
    'agent',
    'researcher',
    'get_weather: {"city":"Oslo"}',
  ]);
  expect(answer.type).toBe('message');
  expect(response.output_text).toBe(
    'get_weather: {"city":"Paris"}\nresearcher: get_weather: {"city":"Oslo"}',
  );
  const runs = serverRunsSince(setup.tools, before);
  expect(runs.map((run) => run.body)).toEqual(
    expect.arrayContaining([{ city: 'Paris' }, { city: 'Oslo' }]),
  );
  expect(runs).toHaveLength(2);
  const items = await client.responses.inputItems.list(response.id);
  expect(items.data.map((item) => item.type)).toEqual(['message']);
});

it("follows a stream with the SDK's helper: reasoning, a server call and text, nothing it does not know", async () => {
  const before = setup.tools.calls.length;
  const stream = client.responses.stream({
    model: 'mock',
    input: `/think Checking the sky.\n${callsOf(['get_weather', { city: 'Rome' }])}`,
    tools: [weather],
    reasoning: { summary: 'auto' },
  });
  const types = new Set<string>();
  stream.on('event', (event) => types.add(event.type));
  const final = await stream.finalResponse();

  expect(final.status).toBe('completed');
  expect(final.output.map((item) => item.type)).toEqual(['reasoning', 'mcp_call', 'message']);
  expect(final.output_text).toBe('get_weather: {"city":"Rome"}');
  for (const type of [
    'response.reasoning_text.delta',
    'response.reasoning_summary_text.done',
    'response.mcp_call_arguments.done',
    'response.mcp_call.completed',
  ]) {
    expect(types).toContain(type);
  }
  // What the helper accumulated is what ratchet stored (the helper adds `parsed` to text).
  const stored = await client.responses.retrieve(final.id);
  const withoutParsed = (value: unknown): unknown =>
    JSON.parse(
      JSON.stringify(value, (key, field: unknown) => (key === 'parsed' ? undefined : field)),
    );
  expect(withoutParsed(final.output)).toEqual(stored.output);
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
});

it('runs in the background and is resumed by the helper from a cursor', async () => {
  const created = await client.responses.create({
    model: 'mock',
    input: '/stream 30\n/reply one two three four five six',
    background: true,
    stream: true,
  });
  let id = '';
  let cursor = -1;
  for await (const event of created) {
    if (event.type === 'response.created') id = event.response.id;
    cursor = event.sequence_number;
    if (event.type === 'response.output_text.delta') break;
  }
  expect(id).toMatch(/^resp_/);

  const resumed = client.responses.stream({ response_id: id, starting_after: cursor });
  const deltas: string[] = [];
  resumed.on('response.output_text.delta', (event) => deltas.push(event.delta));
  const final = await resumed.finalResponse();
  expect(final.status).toBe('completed');
  expect(final.output_text).toBe('one two three four five six');
  expect(deltas.length).toBeGreaterThan(0);
  expect('one two three four five six'.endsWith(deltas.join(''))).toBe(true);
});

it('cancels a background response; the helper ends with it cancelled', async () => {
  const created = await client.responses.create({
    model: 'mock',
    input: '/sleep 10000\nTake your time.',
    background: true,
    stream: true,
  });
  let id = '';
  for await (const event of created) {
    if (event.type === 'response.created') {
      id = event.response.id;
      break;
    }
  }
  await waitForResponse(client, id, { until: (status) => status === 'in_progress' });
  const following = client.responses.stream({ response_id: id }).finalResponse();
  const cancelled = await client.responses.cancel(id);
  expect(cancelled.status).toBe('cancelled');
  expect((await following).status).toBe('cancelled');
  expect((await client.responses.retrieve(id)).status).toBe('cancelled');
});

it('hands client-side calls to the client after running its own, and never runs them twice', async () => {
  const before = setup.tools.calls.length;
  const first = await client.responses.create({
    model: 'mock',
    input: callsOf(['get_weather', { city: 'Lima' }], ['lookup_time', { tz: 'UTC' }]),
    tools: [weather, lookupTime],
  });
  expect(first.output.map((item) => item.type)).toEqual(['mcp_call', 'function_call']);
  const calls = first.output.filter(
    (item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === 'function_call',
  );
  let clientRuns = 0;
  const outputs = calls.map((call) => {
    clientRuns += 1;
    return { type: 'function_call_output' as const, call_id: call.call_id, output: '12:00' };
  });

  const second = await client.responses.create({
    model: 'mock',
    previous_response_id: first.id,
    input: outputs,
    tools: [weather, lookupTime],
  });
  expect(second.output_text).toBe('get_weather: {"city":"Lima"}\nlookup_time: 12:00');
  expect(clientRuns).toBe(1);
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
});

it("iterates a raw stream with sub-agent events (ratchet's extension) to its end", async () => {
  const stream = await client.responses.create({
    model: 'mock',
    input: callsOf(['researcher', { input: 'Say hi.' }]),
    tools: [researcher],
    stream: true,
    // ratchet's own stream option: the SDK passes it through.
    stream_options: {
      agent_events: true,
    } as OpenAI.Responses.ResponseCreateParams['stream_options'],
  });
  const types: string[] = [];
  for await (const event of stream) types.push(event.type);
  expect(types).toContain('ratchet:agent.event');
  expect(types.at(-1)).toBe('response.completed');
});

it.each([
  ['failed', '/fail 400 The upstream refused.', {}],
  [
    'incomplete',
    `/reply ${'A long answer that will not fit. '.repeat(4)}`,
    { max_output_tokens: 16 },
  ],
])(
  'follows a %s response to its end with the helper, without throwing',
  async (status, input, extra) => {
    const stream = client.responses.stream({ model: 'mock', input, ...extra });
    const final = await stream.finalResponse();
    expect(final.status).toBe(status);
  },
);
