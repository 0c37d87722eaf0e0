import {
  Agent,
  MemorySession,
  OpenAIConversationsSession,
  run,
  setDefaultOpenAIClient,
  setOpenAIAPI,
  setTracingDisabled,
  tool,
  type HostedTool,
} from '@openai/agents';
import { z } from 'zod';
import { serverRunsSince, startClientsRatchet, type ClientsRatchet } from './support/clients';

// The OpenAI Agents SDK, unmodified, against ratchet. Tools of the agent run in the SDK;
// tools named as hosted tools run in ratchet, which shows them as mcp_call items the SDK
// takes as done. Every tool must run exactly once, in one place or the other.

let setup: ClientsRatchet;
/** Requests the SDK sent to /v1/responses. */
let requests: number;

beforeAll(async () => {
  setup = await startClientsRatchet('clients_agents');
  const client = setup.ratchet.client(setup.key);
  const create = client.responses.create.bind(client.responses);
  client.responses.create = ((...args: Parameters<typeof create>) => {
    requests += 1;
    return create(...args);
  }) as typeof create;
  setDefaultOpenAIClient(client);
  setOpenAIAPI('responses');
  setTracingDisabled(true);
});
afterAll(() => setup?.close());
beforeEach(() => {
  requests = 0;
});

/** A tool ratchet runs: named in the request, never run by the SDK. */
function ratchetTool(name: string): HostedTool {
  return { type: 'hosted_tool', name, providerData: { type: 'function', name } };
}

const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');

function counted<T>(fn: (input: T) => string): {
  runs: () => number;
  execute: (input: T) => string;
} {
  let runs = 0;
  return {
    runs: () => runs,
    execute: (input) => {
      runs += 1;
      return fn(input);
    },
  };
}

it('runs a local tool in the SDK, once, and ratchet continues from its output', async () => {
  const add = counted(({ a, b }: { a: number; b: number }) => String(a + b));
  const agent = new Agent({
    name: 'calculator',
    model: 'mock',
    tools: [
      tool({
        name: 'add',
        description: 'Adds two numbers',
        parameters: z.object({ a: z.number(), b: z.number() }),
        execute: add.execute,
      }),
    ],
  });
  const result = await run(agent, callsOf(['add', { a: 2, b: 3 }]));
  expect(result.finalOutput).toBe('add: 5');
  expect(add.runs()).toBe(1);
  expect(requests).toBe(2);
});

it("takes ratchet's server-side tool and sub-agent calls as done, even with a local tool of the same name", async () => {
  const before = setup.tools.calls.length;
  const shadow = counted(() => 'the SDK ran it');
  const agent = new Agent({
    name: 'planner',
    model: 'mock',
    tools: [
      tool({
        name: 'get_weather',
        description: 'Current weather for a city',
        parameters: z.object({ city: z.string() }),
        execute: shadow.execute,
      }),
      ratchetTool('researcher'),
    ],
  });
  const result = await run(
    agent,
    callsOf(
      ['get_weather', { city: 'Paris' }],
      ['researcher', { input: callsOf(['get_weather', { city: 'Oslo' }]) }],
    ),
  );

  expect(result.finalOutput).toBe(
    'get_weather: {"city":"Paris"}\nresearcher: get_weather: {"city":"Oslo"}',
  );
  expect(shadow.runs()).toBe(0);
  expect(requests).toBe(1);
  expect(serverRunsSince(setup.tools, before)).toHaveLength(2);
  const calls = result.newItems.filter((item) => item.type === 'tool_call_item');
  expect(
    calls.map(
      (item) =>
        (item.rawItem as { providerData?: { server_label?: string } }).providerData?.server_label,
    ),
  ).toEqual(['http', 'agent']);
});

it('streams a run with a server-side tool', async () => {
  const before = setup.tools.calls.length;
  const agent = new Agent({ name: 'streamer', model: 'mock', tools: [ratchetTool('get_weather')] });
  const result = await run(agent, callsOf(['get_weather', { city: 'Rome' }]), { stream: true });
  const types = new Set<string>();
  for await (const event of result) types.add(event.type);
  await result.completed;
  expect(result.finalOutput).toBe('get_weather: {"city":"Rome"}');
  expect(types).toContain('raw_model_stream_event');
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
  expect(requests).toBe(1);
});

it('continues with previousResponseId', async () => {
  const agent = new Agent({ name: 'echo', model: 'mock', tools: [ratchetTool('get_weather')] });
  const before = setup.tools.calls.length;
  const first = await run(agent, callsOf(['get_weather', { city: 'Lima' }]));
  const second = await run(agent, 'And now?', { previousResponseId: first.lastResponseId });
  expect(second.finalOutput).toBe('You said: And now?');
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
});

it('keeps a conversation with conversationId', async () => {
  const agent = new Agent({ name: 'echo', model: 'mock', tools: [ratchetTool('get_weather')] });
  const conversation = await setup.ratchet.client(setup.key).conversations.create({});
  const before = setup.tools.calls.length;
  await run(agent, callsOf(['get_weather', { city: 'Kyiv' }]), { conversationId: conversation.id });
  const second = await run(agent, 'Thanks.', { conversationId: conversation.id });
  expect(second.finalOutput).toBe('You said: Thanks.');
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
});

it.each([
  ['a local MemorySession, which sends the whole history back', () => new MemorySession()],
  [
    "an OpenAIConversationsSession, kept by ratchet's Conversations API",
    () => new OpenAIConversationsSession({ client: setup.ratchet.client(setup.key) }),
  ],
])(
  'keeps history in %s, server calls included, without running them again',
  async (_name, session) => {
    const before = setup.tools.calls.length;
    const add = counted(({ a, b }: { a: number; b: number }) => String(a + b));
    const agent = new Agent({
      name: 'session',
      model: 'mock',
      tools: [
        ratchetTool('get_weather'),
        tool({
          name: 'add',
          description: 'Adds two numbers',
          parameters: z.object({ a: z.number(), b: z.number() }),
          execute: add.execute,
        }),
      ],
    });
    const kept = session();
    const first = await run(
      agent,
      callsOf(['get_weather', { city: 'Cairo' }], ['add', { a: 1, b: 1 }]),
      {
        session: kept,
      },
    );
    expect(first.finalOutput).toBe('get_weather: {"city":"Cairo"}\nadd: 2');
    const second = await run(agent, 'What did you find?', { session: kept });
    expect(second.finalOutput).toBe('You said: What did you find?');
    expect(add.runs()).toBe(1);
    expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
    const history = await kept.getItems();
    expect(history.some((item) => item.type === 'hosted_tool_call')).toBe(true);
    // The SDK sent the server call back without its output (and, from a conversation, without
    // its id): ratchet found the stored call, so the model read the output again.
    const sent = await setup.ratchet
      .client(setup.key)
      .responses.inputItems.list(second.lastResponseId!, { order: 'asc' });
    expect(sent.data.filter((item) => item.type === 'mcp_call')).toEqual([
      expect.objectContaining({ name: 'get_weather', output: '{"city":"Cairo"}' }),
    ]);
  },
);
