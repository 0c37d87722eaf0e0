import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { serverRunsSince, startClientsRatchet, type ClientsRatchet } from './support/clients';

// The Vercel AI SDK (`ai` + `@ai-sdk/openai`'s Responses model), unmodified, against ratchet:
// client tool loops, ratchet's own tools, multi-turn with the SDK's default store (item
// references), and reasoning. The SDK runs in its own node process (test/support/
// ai-sdk-client.mjs); every tool must run exactly once, in the SDK or in ratchet.

let setup: ClientsRatchet;

beforeAll(async () => {
  setup = await startClientsRatchet('clients_ai_sdk');
});
afterAll(() => setup?.close());

interface Summary {
  text: string;
  reasoningText: string | null;
  finishReason: string;
  steps: number;
  toolCalls: { name: string; providerExecuted: boolean }[];
  toolResults: { name: string; output: unknown }[];
}

interface Seen {
  runs: Record<string, number>;
  requests: string[][];
}

async function scenario<T>(name: string): Promise<T & Seen> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(__dirname, 'support/ai-sdk-client.mjs'), name],
    {
      env: { ...process.env, RATCHET_URL: setup.ratchet.url, RATCHET_KEY: setup.key },
      timeout: 30_000,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T & Seen;
}

it.each(['clientTools', 'clientToolsStreamed'])(
  '%s: runs its tool once and ratchet answers from the result',
  async (name) => {
    const seen = await scenario<Summary>(name);
    expect(seen.text).toBe('lookup_time: 12:00');
    expect(seen.runs).toEqual({ lookup_time: 1 });
    expect(seen.steps).toBe(2);
    expect(seen.toolCalls).toEqual([{ name: 'lookup_time', providerExecuted: false }]);
    // The second step carried the call and the SDK's result for it.
    expect(seen.requests[1]).toEqual(['message:user', 'function_call', 'function_call_output']);
  },
);

it.each(['serverTool', 'serverToolStreamed'])(
  "%s: takes ratchet's server-side call as done, never running it itself",
  async (name) => {
    const before = setup.tools.calls.length;
    const seen = await scenario<Summary>(name);
    expect(seen.text).toBe('get_weather: {"city":"Paris"}');
    expect(seen.runs).toEqual({});
    expect(seen.steps).toBe(1);
    expect(seen.finishReason).toBe('stop');
    expect(seen.toolCalls).toEqual([{ name: 'mcp.get_weather', providerExecuted: true }]);
    expect(seen.toolResults).toEqual([
      {
        name: 'mcp.get_weather',
        output: expect.objectContaining({
          serverLabel: 'http',
          name: 'get_weather',
          output: '{"city":"Paris"}',
        }) as unknown,
      },
    ]);
    expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
  },
);

it('carries turns from response.messages with the default store: every earlier item by reference', async () => {
  const before = setup.tools.calls.length;
  const seen = await scenario<{ texts: string[] }>('multiTurn');
  expect(seen.texts).toEqual([
    'get_weather: {"city":"Oslo"}\nlookup_time: 12:00',
    'You said: Thanks, and now?',
  ]);
  expect(seen.runs).toEqual({ lookup_time: 1 });
  expect(serverRunsSince(setup.tools, before)).toHaveLength(1);
  // The first turn's second step referred to ratchet's server call by its id, and the second
  // turn to the first turn's answer: both resolved to the stored items.
  expect(seen.requests).toEqual([
    ['message:user'],
    ['message:user', 'item_reference', 'function_call', 'function_call_output'],
    ['message:user', 'item_reference', 'message:user'],
  ]);
});

it('gets reasoning text through the summary, over a tool loop on a reasoning model', async () => {
  const seen = await scenario<{ generated: Summary; streamed: Summary }>('reasoning');
  for (const result of [seen.generated, seen.streamed]) {
    expect(result.reasoningText).toBe('Weighing the options.');
    expect(result.text).toBe('lookup_time: 12:00');
    expect(result.steps).toBe(2);
  }
  expect(seen.runs).toEqual({ lookup_time: 2 });
  // The second step of each loop referred to the stored reasoning item.
  expect(seen.requests[1]).toContain('item_reference');
});
