import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hasUnstorableText } from '@ratchet/core';
import { TestUpstream } from '../libs/providers/src/testing/upstream-server';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { eventsFromSse } from './support/stream-checker';

// Text ratchet cannot store: NUL and lone surrogates from a model and a tool become U+FFFD
// before they are stored, the same live, on replay by cursor and on GET; the response
// completes instead of failing a write over and over.

type Event = { type: string; sequence_number: number } & Record<string, unknown>;

const R = '\uFFFD';

let upstream: TestUpstream;
let tool: Server;
let toolUrl: string;
let toolBodies: string[];
let ratchet: TestRatchet;
let key: string;

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const body = {
    id: 'chatcmpl-nul',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  // JSON.stringify writes NUL and lone surrogates as \u escapes, as upstreams do.
  return `data: ${JSON.stringify(body)}\n\n`;
}

beforeAll(async () => {
  toolBodies = [];
  tool = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (data: Buffer) => chunks.push(data));
    request.on('end', () => {
      toolBodies.push(Buffer.concat(chunks).toString('utf8'));
      // Not JSON (a raw NUL in a string), so the model reads an error quoting it.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(Buffer.from('{"said": "nul\u0000here"}', 'utf8'));
    });
  });
  await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
  toolUrl = `http://127.0.0.1:${(tool.address() as AddressInfo).port}/`;
  upstream = await TestUpstream.start();
  ratchet = await startRatchet('storable-text', {
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: ${upstream.baseUrl}, apiKey: test }
tools:
  nul_tool: { type: http, url: "${toolUrl}", parameters: { type: object } }
`,
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  await upstream?.close();
  tool?.closeAllConnections();
  await new Promise<void>((resolve) => (tool ? tool.close(() => resolve()) : resolve()));
});

it('replaces NUL and lone surrogates with U+FFFD, consistently live, on replay and on GET', async () => {
  let turn = 0;
  upstream.reset((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    if (turn++ === 0) {
      response.end(
        chunk({ role: 'assistant', content: 'a\u0000b' }) +
          chunk({ content: ' c\uD800d' }) +
          chunk({
            tool_calls: [
              {
                index: 0,
                id: 'call_nul',
                type: 'function',
                function: { name: 'nul_tool', arguments: '{"q": "x\u0000y\uDC00"}' },
              },
            ],
          }) +
          chunk({}, 'tool_calls') +
          'data: [DONE]\n\n',
      );
    } else {
      response.end(chunk({ content: 'done \uDBFF!' }) + chunk({}, 'stop') + 'data: [DONE]\n\n');
    }
  });

  const live = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({
      model: 'chat',
      stream: true,
      input: 'Call the tool.',
      tools: [{ type: 'function', name: 'nul_tool' }],
    }),
  });
  const liveText = await live.text();
  expect(liveText).not.toMatch(/\\u0000|\\ud[89a-f]/i);
  const liveEvents = eventsFromSse(liveText).events as Event[];
  expect(liveEvents.at(-1)?.type).toBe('response.completed');
  for (const event of liveEvents) expect(hasUnstorableText(JSON.stringify(event))).toBe(false);

  const deltas = liveEvents
    .filter((event) => event.type === 'response.output_text.delta')
    .map((event) => event.delta as string)
    .join('');
  expect(deltas).toBe(`a${R}b c${R}ddone ${R}!`);

  // The tool received the arguments as they were stored.
  expect(toolBodies).toEqual([`{"q": "x${R}y${R}"}`]);

  // What the next model call read: the tool's answer, quoted with the NUL replaced.
  const followUp = upstream.received[1].body as { messages: { role: string; content: unknown }[] };
  const toolMessage = followUp.messages.find((message) => message.role === 'tool');
  expect(String(toolMessage?.content)).toContain(`nul${R}here`);

  const completed = liveEvents.at(-1)!.response as {
    id: string;
    output: { type: string; arguments?: string; output?: string; content?: { text: string }[] }[];
  };
  const id = completed.id;
  const call = completed.output.find((item) => item.type === 'mcp_call')!;
  expect(call.arguments).toBe(`{"q": "x${R}y${R}"}`);
  const messages = completed.output.filter((item) => item.type === 'message');
  expect(messages.map((item) => item.content?.[0]?.text)).toEqual([`a${R}b c${R}d`, `done ${R}!`]);

  // Replay from the start and from a cursor: the same events, byte for byte.
  const replay = eventsFromSse(
    await (await ratchet.request(`/v1/responses/${id}?stream=true`, { key })).text(),
  ).events as Event[];
  expect(replay).toEqual(liveEvents);
  const cursor = liveEvents[3].sequence_number;
  const resumed = eventsFromSse(
    await (
      await ratchet.request(`/v1/responses/${id}?stream=true&starting_after=${cursor}`, { key })
    ).text(),
  ).events as Event[];
  expect(resumed).toEqual(liveEvents.slice(4));

  const stored = (await (await ratchet.request(`/v1/responses/${id}`, { key })).json()) as {
    status: string;
    output: unknown;
  };
  expect(stored.status).toBe('completed');
  expect(stored.output).toEqual(completed.output);
});
