import { startFakeTools, type FakeTools, type ToolCall } from './fake-tools';
import { startRatchet, type TestRatchet } from './ratchet';

// The ratchet the client-compatibility suites point the real SDKs at: the mock model (also
// under a name the AI SDK takes for a reasoning model), an http tool and a sub-agent, served
// by a real tool server on loopback that records every call it gets.

export interface ClientsRatchet {
  ratchet: TestRatchet;
  tools: FakeTools;
  key: string;
  close(): Promise<void>;
}

export async function startClientsRatchet(name: string): Promise<ClientsRatchet> {
  const tools = await startFakeTools();
  const ratchet = await startRatchet(name, {
    configYaml: `
models:
  mock: { provider: mock }
  gpt-5-mock: { provider: mock }
tools:
  get_weather:
    type: http
    url: ${tools.url}/echo
    description: Current weather for a city
    parameters: { type: object, properties: { city: { type: string } }, required: [city] }
  researcher:
    type: agent
    model: mock
    instructions: You research and answer briefly.
    tools: [get_weather]
`,
  });
  const key = await ratchet.newKey(name);
  return {
    ratchet,
    tools,
    key,
    close: async () => {
      await ratchet.close();
      await tools.close();
    },
  };
}

/**
 * The server-side tool calls made since `from` (an index into `tools.calls`), after checking
 * that each ran exactly once: every run of a step carries the step's Idempotency-Key, so a
 * key seen twice is a call that ran twice.
 */
export function serverRunsSince(tools: FakeTools, from: number): ToolCall[] {
  const calls = tools.calls.slice(from);
  const keys = calls.map((call) => call.idempotencyKey);
  const repeated = keys.filter((key, i) => keys.indexOf(key) !== i);
  if (repeated.length > 0) throw new Error(`tool calls ran more than once: ${repeated.join(', ')}`);
  return calls;
}
