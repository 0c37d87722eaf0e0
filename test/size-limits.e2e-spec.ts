import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestUpstream } from '../libs/providers/src/testing/upstream-server';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { eventsFromSse } from './support/stream-checker';

// The size limits under `limits`: a tool's answer over maxToolOutputBytes becomes an error
// the model reads; an upstream answer over maxUpstreamResponseBytes fails the response
// with a classified error, not retried; an event log over maxEventLogBytes stops the model
// call and ends the response failed with the limit named.

type Event = { type: string } & Record<string, unknown>;

let upstream: TestUpstream;
let tool: Server;
let ratchet: TestRatchet;
let key: string;

function endless(response: ServerResponse, piece: string): void {
  const write = (): void => {
    while (!response.destroyed && response.write(piece));
    if (!response.destroyed) response.once('drain', write);
  };
  write();
}

function chatReply(message: Record<string, unknown>, finish: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, message, finish_reason: finish }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

beforeAll(async () => {
  tool = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ big: 'z'.repeat(5000) }));
    });
  });
  await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
  const toolUrl = `http://127.0.0.1:${(tool.address() as AddressInfo).port}/`;
  upstream = await TestUpstream.start();
  ratchet = await startRatchet('size-limits', {
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: ${upstream.baseUrl}, apiKey: test }
  mock: { provider: mock }
tools:
  big: { type: http, url: "${toolUrl}", parameters: { type: object } }
limits: { maxToolOutputBytes: 1000, maxUpstreamResponseBytes: 20000, maxEventLogBytes: 6000 }
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

async function create(body: Record<string, unknown>): Promise<Response> {
  return ratchet.request('/v1/responses', { method: 'POST', key, body: JSON.stringify(body) });
}

it('gives the model an error output naming the limit when a tool answers too much', async () => {
  let turn = 0;
  upstream.reset((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      turn++ === 0
        ? chatReply(
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 'call_1', type: 'function', function: { name: 'big', arguments: '{}' } },
              ],
            },
            'tool_calls',
          )
        : chatReply({ role: 'assistant', content: 'Too big.' }, 'stop'),
    );
  });
  const response = (await (
    await create({ model: 'chat', input: 'Go.', tools: [{ type: 'function', name: 'big' }] })
  ).json()) as { status: string };
  expect(response.status).toBe('completed');
  const followUp = upstream.received[1].body as { messages: { role: string; content: string }[] };
  const output = followUp.messages.find((message) => message.role === 'tool')?.content ?? '';
  expect(output).toContain('more than 1000 bytes');
  expect(output).toContain('limits.maxToolOutputBytes');
});

it('fails the response with upstream_response_too_large when the upstream never stops', async () => {
  upstream.reset((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    endless(response, `: ${'k'.repeat(1000)}\n`);
  });
  const started = Date.now();
  const text = await (await create({ model: 'chat', input: 'Go.', stream: true })).text();
  const events = eventsFromSse(text).events as Event[];
  const terminal = events.at(-1)!;
  expect(terminal.type).toBe('response.failed');
  expect(terminal.response).toMatchObject({
    status: 'failed',
    error: { code: 'upstream_response_too_large' },
  });
  expect(Date.now() - started).toBeLessThan(10_000);
  // Not retried: one request reached the upstream.
  expect(upstream.received).toHaveLength(1);
});

it('stops a model call whose events would take the log past maxEventLogBytes', async () => {
  const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
  const text = await (
    await create({ model: 'mock', input: `/reply ${words}`, stream: true })
  ).text();
  const { events, violations } = eventsFromSse(text);
  expect(violations).toEqual([]);
  const terminal = events.at(-1) as Event;
  expect(terminal.type).toBe('response.failed');
  expect(terminal.response).toMatchObject({
    status: 'failed',
    error: { code: 'max_event_log_bytes' },
  });
  expect((terminal.response as { error: { message: string } }).error.message).toContain(
    'limits.maxEventLogBytes',
  );
  // Stopped near the limit: the deltas logged are far fewer than the 200 words.
  const deltas = (events as Event[]).filter((event) => event.type === 'response.output_text.delta');
  expect(deltas.length).toBeLessThan(60);
});
