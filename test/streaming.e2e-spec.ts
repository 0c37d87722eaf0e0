import type { INestApplication } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { Client } from 'pg';
import { createApiApp } from '../apps/api/src/api-app';
import { usageJson } from '../libs/store/src/usage-sql';
import { startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import { REDIS_URL, startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { checkSse, checkStream, eventsFromSse } from './support/stream-checker';
import { waitFor } from './support/wait';

// Streaming end to end: the event log in Postgres, SSE from POST and GET, resume by cursor
// from any API process, sub-agent events on request, with the official SDK as the client.

type StreamEvent = OpenAI.Responses.ResponseStreamEvent;
type Event = { type: string; sequence_number: number } & Record<string, unknown>;

let tools: FakeTools;
let upstream: FakeOpenAI;
let ratchet: TestRatchet;
let client: OpenAI;
let key: string;

beforeAll(async () => {
  tools = await startFakeTools();
  upstream = await startFakeOpenAI();
  ratchet = await startRatchet('streaming', {
    configYaml: `
models:
  mock: { provider: mock }
  upstream: { provider: openai-chat, baseUrl: ${upstream.url}, upstreamModel: upstream-model }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
  sleep: { type: http, url: ${tools.url}/sleep, parameters: { type: object } }
  helper: { type: agent, model: mock, description: A helper agent, tools: [echo] }
limits: { maxDepth: 4, maxIterations: 10 }
`,
    env: { RATCHET_SSE_KEEPALIVE_MS: '200' },
  });
  key = await ratchet.newKey();
  client = ratchet.client(key);
});

afterAll(async () => {
  await ratchet?.close();
  await tools?.close();
  await upstream?.close();
});

/** One Chat Completions stream chunk as an SSE frame. */
function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  const body = {
    id: 'chatcmpl-stream',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

const USAGE_CHUNK = `data: ${JSON.stringify({
  id: 'chatcmpl-stream',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'upstream-model',
  choices: [],
  usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
})}\n\n`;

/** Reads an SSE body through to its end, or until `until` says stop (then hangs up). */
async function readSse(
  response: Response,
  until?: (events: Event[]) => boolean,
): Promise<{ text: string; events: Event[] }> {
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (until && until(parsedEvents(text))) {
      await reader.cancel();
      break;
    }
  }
  return { text, events: parsedEvents(text) };
}

/** Events of complete SSE frames in a (possibly cut) body. */
function parsedEvents(text: string): Event[] {
  const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
  return eventsFromSse(complete + 'data: [DONE]\n\n').events as Event[];
}

function post(body: Record<string, unknown>): Promise<Response> {
  return ratchet.request('/v1/responses', { method: 'POST', key, body: JSON.stringify(body) });
}

function streamOf(id: string, query = '', headers: Record<string, string> = {}): Promise<Response> {
  return ratchet.request(`/v1/responses/${id}?stream=true${query}`, { key, headers });
}

/** A response without the fields the SDK's stream helper adds for parsed output. */
function withoutParsed(response: OpenAI.Responses.Response): OpenAI.Responses.Response {
  return JSON.parse(
    JSON.stringify(response, (key, value: unknown) =>
      key === 'parsed' || key === 'output_parsed' ? undefined : value,
    ),
  ) as OpenAI.Responses.Response;
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function stepUsage(id: string): Promise<{ usage: Record<string, unknown> | null }[]> {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ usage: Record<string, unknown> | null }>(
      `SELECT ${usageJson('steps', { estimated: true })} AS usage
         FROM steps WHERE response_id = $1 AND kind = 'model_call' ORDER BY created_at`,
      [id],
    );
    return rows;
  } finally {
    await db.end();
  }
}

function waitForUsage(id: string): Promise<OpenAI.Responses.ResponseUsage> {
  return waitFor(
    `the usage of ${id}`,
    async () => {
      const { usage } = await client.responses.retrieve(id);
      return usage && usage.total_tokens > 0 ? usage : null;
    },
    5000,
    25,
  );
}

async function loggedEvents(id: string): Promise<number> {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ count: string }>(
      'SELECT count(*) FROM events WHERE response_id = $1',
      [id],
    );
    return Number(rows[0].count);
  } finally {
    await db.end();
  }
}

describe('POST /v1/responses with stream: true', () => {
  it('streams a text answer that the SDK accumulates into the response GET returns', async () => {
    const stream = client.responses.stream({
      model: 'mock',
      input: '/reply The quick brown fox jumps over the lazy dog',
    });
    const events = await collect(stream);
    const final = await stream.finalResponse();
    expect(checkStream(events)).toEqual([]);
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(9).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final.output_text).toBe('The quick brown fox jumps over the lazy dog');
    const stored = await client.responses.retrieve(final.id);
    expect(stored).toEqual(withoutParsed(final));
    expect(stored.status).toBe('completed');
  });

  it('streams server-side tool calls as mcp_call items that close with their outputs', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      input: '/call echo {"n":1}\n/call echo {"n":2}',
      tools: [serverTool('echo')],
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { text, events } = await readSse(response);
    expect(checkSse(text)).toEqual([]);
    const terminal = events[events.length - 1] as Event & { response: OpenAI.Responses.Response };
    expect(terminal.type).toBe('response.completed');
    const added = events
      .filter((event) => event.type === 'response.output_item.added')
      .map((event) => (event.item as { type: string }).type);
    expect(added).toEqual(['mcp_call', 'mcp_call', 'message']);
    // Every item the stream finished is the item the final response holds, at its index.
    const done = events.filter((event) => event.type === 'response.output_item.done');
    expect(done.map((event) => event.item)).toEqual(terminal.response.output);
    expect(done.map((event) => event.output_index)).toEqual([0, 1, 2]);
    expect(terminal.response.output.slice(0, 2)).toEqual([
      expect.objectContaining({
        type: 'mcp_call',
        server_label: 'http',
        name: 'echo',
        arguments: '{"n":1}',
        output: '{"n":1}',
        error: null,
        status: 'completed',
      }),
      expect.objectContaining({ type: 'mcp_call', arguments: '{"n":2}', output: '{"n":2}' }),
    ]);
    // Arguments close and each call starts before any call ends: the calls run together.
    const calls = events
      .filter((event) => event.type.startsWith('response.mcp_call'))
      .map((event) => `${event.type.replace('response.', '')}@${String(event.output_index)}`);
    expect(calls).toEqual([
      'mcp_call_arguments.delta@0',
      'mcp_call_arguments.delta@1',
      'mcp_call_arguments.done@0',
      'mcp_call.in_progress@0',
      'mcp_call_arguments.done@1',
      'mcp_call.in_progress@1',
      'mcp_call.completed@0',
      'mcp_call.completed@1',
    ]);
    expect(events.some((event) => event.type.startsWith('response.function_call'))).toBe(false);
  });

  it('ends with response.failed when the model fails mid-run', async () => {
    const response = await post({ model: 'mock', stream: true, input: '/fail 400 bad request' });
    const { text, events } = await readSse(response);
    expect(checkSse(text)).toEqual([]);
    expect(events[events.length - 1].type).toBe('response.failed');
  });

  it('keeps a background stream going after its client hangs up, and sends keepalives', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 100\n/reply one two three four five six',
    });
    const { text, events } = await readSse(response, (seen) =>
      seen.some((event) => event.type === 'response.output_text.delta'),
    );
    expect(events.slice(0, 3).map((event) => event.type)).toEqual([
      'response.created',
      'response.queued',
      'response.in_progress',
    ]);
    const id = (events[0].response as { id: string }).id;
    expect(text).not.toContain(': keepalive');
    const final = await waitForResponse(client, id);
    expect(final.status).toBe('completed');
    expect(final.output_text).toBe('one two three four five six');

    const slow = await post({ model: 'mock', stream: true, input: '/sleep 500\nhi' });
    const whole = await readSse(slow);
    expect(whole.text).toContain(': keepalive\n\n');
    expect(checkSse(whole.text)).toEqual([]);
  });
});

describe('GET /v1/responses/{id}?stream=true', () => {
  it('resumes a cut SDK stream after its last event: the two halves are the uninterrupted stream', async () => {
    const first = await client.responses.create({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 20\n/think Let me see\n/reply alpha beta gamma delta epsilon zeta eta theta',
    });
    const head: StreamEvent[] = [];
    for await (const event of first) {
      head.push(event);
      if (event.type === 'response.output_text.delta' && head.length > 8) break;
    }
    const id = (head[0] as OpenAI.Responses.ResponseCreatedEvent).response.id;
    const cursor = head[head.length - 1].sequence_number;
    const rest = await collect(
      await client.responses.retrieve(id, { stream: true, starting_after: cursor }),
    );
    const whole = await collect(await client.responses.retrieve(id, { stream: true }));
    expect(checkStream(whole)).toEqual([]);
    expect([...head, ...rest]).toEqual(whole);
    expect(rest[0].sequence_number).toBe(cursor + 1);
    // Every replay is the same.
    expect(await collect(await client.responses.retrieve(id, { stream: true }))).toEqual(whole);
  });

  it('reconstructs the uninterrupted stream from any cut point of a live stream', async () => {
    const created = await client.responses.create({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 15\n/call echo {"k":1}\n/reply r1 r2 r3 r4 r5 r6 r7 r8 r9 r10 r11 r12',
      tools: [serverTool('echo')],
    });
    let id = '';
    for await (const event of created) {
      if (event.type === 'response.created') id = event.response.id;
      break;
    }
    // Clients cut at points spread over the stream while it is still running, each resuming
    // with the SDK from the last event it saw; a fixed pseudo-random sequence keeps the test
    // reproducible.
    let seed = 7;
    const cuts = Array.from({ length: 12 }, () => {
      seed = (seed * 48271) % 2147483647;
      return seed % 30;
    });
    const joined = await Promise.all(
      cuts.map(async (cut) => {
        const head: StreamEvent[] = [];
        for await (const event of await client.responses.retrieve(id, { stream: true })) {
          head.push(event);
          if (head.length > cut) break;
        }
        const after = head[head.length - 1].sequence_number;
        const rest = await collect(
          await client.responses.retrieve(id, { stream: true, starting_after: after }),
        );
        return [...head, ...rest];
      }),
    );
    const whole = await collect(await client.responses.retrieve(id, { stream: true }));
    expect(checkStream(whole)).toEqual([]);
    expect(whole.length).toBeGreaterThan(30);
    for (const stream of joined) expect(stream).toEqual(whole);
  });

  it('resumes from another API process, by Last-Event-ID too', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 30\n/reply a b c d e f g h',
    });
    const { events: head } = await readSse(response, (seen) => seen.length >= 6);
    const id = (head[0].response as { id: string }).id;
    const last = head[head.length - 1].sequence_number;

    const other: INestApplication = await createApiApp(AppConfig.fromEnvironment(ratchet.env), {
      logger: ['error'] as never,
    });
    await other.listen(0, '127.0.0.1');
    try {
      const url = (await other.getUrl()).replace('[::1]', '127.0.0.1');
      const resumed = await fetch(`${url}/v1/responses/${id}?stream=true`, {
        headers: { authorization: `Bearer ${key}`, 'last-event-id': String(last) },
      });
      const { events: tail } = await readSse(resumed);
      const { events: whole, text } = await readSse(await streamOf(id));
      expect(checkSse(text)).toEqual([]);
      expect([...head, ...tail]).toEqual(whole);
    } finally {
      await other.close();
    }
  });

  it('gives 200 concurrent streams of one response the same events', async () => {
    const created = await client.responses.create({
      model: 'mock',
      background: true,
      stream: true,
      input: '/stream 50\n/reply one two three four five',
    });
    let id = '';
    for await (const event of created) {
      if (event.type === 'response.created') {
        id = event.response.id;
        break;
      }
    }
    const bodies = await Promise.all(
      Array.from({ length: 200 }, async () => (await readSse(await streamOf(id))).text),
    );
    expect(checkSse(bodies[0])).toEqual([]);
    const distinct = new Set(bodies.map((body) => body.replace(/: keepalive\n\n/g, '')));
    expect(distinct.size).toBe(1);
  });

  it('holds one Redis subscription per response for all its streams, freed when clients leave', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 200\n/reply a b c d e f g h i j k l m n o p',
    });
    const { events: head } = await readSse(response, (seen) => seen.length >= 3);
    const id = (head[0].response as { id: string }).id;
    const channel = `${ratchet.env.RATCHET_REDIS_PREFIX}:response:${id}`;
    const subscribers = async (): Promise<number> => {
      const redis = new Redis(REDIS_URL);
      try {
        const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
        return count;
      } finally {
        redis.disconnect();
      }
    };
    const clients = Array.from({ length: 20 }, () => new AbortController());
    const streams = await Promise.all(
      clients.map((controller) =>
        ratchet.request(`/v1/responses/${id}?stream=true`, { key, signal: controller.signal }),
      ),
    );
    expect(streams.every((stream) => stream.status === 200)).toBe(true);
    expect(await subscribers()).toBe(1);
    for (const controller of clients) controller.abort();
    await waitFor('the last watcher to leave', async () => (await subscribers()) === 0, 2000, 20);
    // The response did not notice its watchers leave; it runs on (cancelled here to save time).
    expect((await client.responses.retrieve(id)).status).toBe('in_progress');
    await client.responses.cancel(id);
  });

  it('waits at a cursor beyond the end for the events that come', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 50\n/reply w1 w2 w3 w4 w5 w6 w7 w8',
    });
    const { events: head } = await readSse(response, (seen) => seen.length >= 4);
    const id = (head[0].response as { id: string }).id;
    const ahead = head[head.length - 1].sequence_number + 3;
    const { events } = await readSse(await streamOf(id, `&starting_after=${ahead}`));
    expect(events[0].sequence_number).toBe(ahead + 1);
    expect(events[events.length - 1].type).toBe('response.completed');
  });

  it('reads from Postgres the events whose publication was lost with their writer', async () => {
    const stream = client.responses.stream({ model: 'mock', input: 'hello' });
    const final = await stream.finalResponse();
    // As if the worker died between logging the terminal event and publishing it: the event
    // is taken out of the log, a follower waits at its cursor, and the event is put back
    // in Postgres alone. The lease is far off, so the sweeper leaves the log be.
    const db = new Client({ connectionString: ratchet.database.url });
    await db.connect();
    try {
      const {
        rows: [terminal],
      } = await db.query<{ sequence: number; type: string; data: string }>(
        `DELETE FROM events WHERE response_id = $1 AND type = 'response.completed'
         RETURNING sequence, type, data`,
        [final.id],
      );
      await db.query(
        `UPDATE responses SET events_closed = false, next_sequence = next_sequence - 1,
                lease_expires_at = now() + interval '1 hour' WHERE id = $1`,
        [final.id],
      );
      const following = readSse(
        await streamOf(final.id, `&starting_after=${terminal.sequence - 1}`),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await db.query(
        `WITH logged AS (
           INSERT INTO events (response_id, sequence, type, data) VALUES ($1, $2, $3, $4))
         UPDATE responses SET events_closed = true, next_sequence = next_sequence + 1,
                lease_expires_at = NULL WHERE id = $1`,
        [final.id, terminal.sequence, terminal.type, terminal.data],
      );

      const { text, events } = await following;
      expect(events.map((event) => event.type)).toEqual(['response.completed']);
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      await db.end();
    }
  });

  it('rejects bad cursors and responses that were not streamed', async () => {
    const plain = await client.responses.create({ model: 'mock', input: 'hi' });
    for (const [query, param] of [
      ['&starting_after=-1', 'starting_after'],
      ['&starting_after=abc', 'starting_after'],
      ['&starting_after=1.5', 'starting_after'],
    ] as const) {
      const response = await streamOf(plain.id, query);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { param: string } }).error.param).toBe(param);
    }
    const lastEventId = await streamOf(plain.id, '', { 'last-event-id': 'x' });
    expect(lastEventId.status).toBe(400);
    const notStreamed = await streamOf(plain.id);
    expect(notStreamed.status).toBe(400);
    expect(((await notStreamed.json()) as { error: { param: string } }).error.param).toBe('stream');
    const badFlag = await ratchet.request(`/v1/responses/${plain.id}?stream=yes`, { key });
    expect(badFlag.status).toBe(400);
    const other = ratchet.client(await ratchet.newKey('other'));
    await expect(other.responses.retrieve(plain.id, { stream: true })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('ends a cancelled stream with response.incomplete (status cancelled) after closing the open item', async () => {
    const response = await post({
      model: 'mock',
      stream: true,
      background: true,
      input: '/stream 200\n/reply one two three four five six seven',
    });
    const { events: head } = await readSse(response, (seen) =>
      seen.some((event) => event.type === 'response.output_text.delta'),
    );
    const id = (head[0].response as { id: string }).id;
    const cancelled = await client.responses.cancel(id);
    expect(cancelled.status).toBe('cancelled');
    const { text, events } = await readSse(await streamOf(id));
    expect(checkSse(text)).toEqual([]);
    const closing = events.filter((event) => event.type === 'response.output_item.done');
    expect(closing.map((event) => (event.item as { status: string }).status)).toEqual([
      'incomplete',
    ]);
    const terminal = events[events.length - 1];
    expect(terminal.type).toBe('response.incomplete');
    expect(terminal.response).toMatchObject({ id, status: 'cancelled' });
    // The OpenAI SDK's stream helper follows it to the end without throwing.
    const helper = client.responses.stream({ response_id: id });
    expect((await helper.finalResponse()).status).toBe('cancelled');
    // The cut call's usage is estimated from what it read and wrote, and counted.
    const usage = await waitForUsage(id);
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(usage.output_tokens).toBeGreaterThan(0);
    const [step] = await stepUsage(id);
    expect(step.usage).toMatchObject({ estimated: true });
  });

  it("names raw reasoning events in the client's dialect: OpenAI's unless it sends OpenResponses-Version", async () => {
    const stream = client.responses.stream({
      model: 'mock',
      input: '/think Weighing it up.\n/reply Done.',
    });
    const final = await stream.finalResponse();
    expect(final.output[0]).toMatchObject({
      type: 'reasoning',
      content: [{ type: 'reasoning_text', text: 'Weighing it up.' }],
    });
    const openai = await (await streamOf(final.id)).text();
    expect(checkSse(openai, 'openai')).toEqual([]);
    expect(openai).toContain('event: response.reasoning_text.delta');
    const openResponses = await (
      await ratchet.request(`/v1/responses/${final.id}?stream=true`, {
        key,
        headers: { 'OpenResponses-Version': 'latest' },
      })
    ).text();
    expect(checkSse(openResponses, 'open_responses')).toEqual([]);
    expect(openResponses).toContain('event: response.reasoning.delta');
    // Apart from those names, the two are the same stream.
    expect(openResponses.replaceAll('response.reasoning.', 'response.reasoning_text.')).toBe(
      openai,
    );
  });

  it('gives raw reasoning as the summary too when the request asks for a summary', async () => {
    const stream = client.responses.stream({
      model: 'mock',
      input: '/think Weighing it up.\n/reply Done.',
      reasoning: { summary: 'auto' },
    });
    const summaries: string[] = [];
    stream.on('response.reasoning_summary_text.delta', (event) => summaries.push(event.delta));
    const final = await stream.finalResponse();
    expect(final.output[0]).toMatchObject({
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'Weighing it up.' }],
      content: [{ type: 'reasoning_text', text: 'Weighing it up.' }],
    });
    expect(summaries.join('')).toBe('Weighing it up.');
    expect(checkSse(await (await streamOf(final.id)).text())).toEqual([]);
  });

  it('deletes the events with the response', async () => {
    const stream = client.responses.stream({ model: 'mock', input: 'hello' });
    const final = await stream.finalResponse();
    expect(await loggedEvents(final.id)).toBeGreaterThan(4);
    await client.responses.delete(final.id);
    expect(await loggedEvents(final.id)).toBe(0);
  });
});

describe('upstream streams through the engine', () => {
  it('closes the items of an attempt cut mid-stream and streams the retry as new items', async () => {
    upstream.enqueue(
      {
        kind: 'handler',
        handle: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write(chunk({ role: 'assistant', content: 'Hel' }));
          response.write(chunk({ content: 'lo' }), () => response.destroy());
        },
      },
      {
        kind: 'handler',
        handle: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write(chunk({ role: 'assistant', content: 'Hello ' }));
          response.write(chunk({ content: 'again' }));
          response.write(chunk({}, 'stop'));
          response.end(USAGE_CHUNK + 'data: [DONE]\n\n');
        },
      },
    );
    const before = upstream.requests.length;
    const { text, events } = await readSse(
      await post({ model: 'upstream', stream: true, input: 'hi' }),
    );
    expect(checkSse(text)).toEqual([]);
    expect(upstream.requests.slice(before).map((request) => request.body.stream)).toEqual([
      true,
      true,
    ]);
    const done = events.filter((event) => event.type === 'response.output_item.done');
    expect(
      done.map((event) => [event.output_index, (event.item as { status: string }).status]),
    ).toEqual([
      [0, 'incomplete'],
      [1, 'completed'],
    ]);
    const terminal = events[events.length - 1] as Event & { response: OpenAI.Responses.Response };
    expect(terminal.type).toBe('response.completed');
    // The final output holds only the attempt that succeeded.
    expect(terminal.response.output).toEqual([done[1].item]);
    // The upstream's usage of the attempt that answered, plus an estimate for the one cut
    // short ('hi' read, 'Hello' written: a token or two each at four characters a token).
    expect(terminal.response.usage).toMatchObject({ input_tokens: 6, output_tokens: 5 });
    const [step] = await stepUsage(terminal.response.id);
    expect(step.usage).toMatchObject({ input_tokens: 6, output_tokens: 5, estimated: true });
  });

  it('streams a tool call whose arguments arrive in fragments, then the answer', async () => {
    upstream.enqueue(
      {
        kind: 'handler',
        handle: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write(
            chunk({
              role: 'assistant',
              tool_calls: [
                {
                  index: 0,
                  id: 'call_a',
                  type: 'function',
                  function: { name: 'echo', arguments: '{"q"' },
                },
              ],
            }),
          );
          response.write(chunk({ tool_calls: [{ index: 0, function: { arguments: ':"x"}' } }] }));
          response.write(chunk({}, 'tool_calls'));
          response.end(USAGE_CHUNK + 'data: [DONE]\n\n');
        },
      },
      {
        kind: 'handler',
        handle: (_request, response) => {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write(chunk({ role: 'assistant', content: 'done' }));
          response.write(chunk({}, 'stop'));
          response.end(USAGE_CHUNK + 'data: [DONE]\n\n');
        },
      },
    );
    const { text, events } = await readSse(
      await post({
        model: 'upstream',
        stream: true,
        input: 'call it',
        tools: [serverTool('echo')],
      }),
    );
    expect(checkSse(text)).toEqual([]);
    const fragments = events
      .filter((event) => event.type === 'response.mcp_call_arguments.delta')
      .map((event) => [event.item_id, event.delta]);
    const callItem = events.find((event) => event.type === 'response.output_item.added')!.item as {
      id: string;
      call_id: string;
    };
    expect(callItem.call_id).toBe('call_a');
    expect(fragments).toEqual([
      [callItem.id, '{"q"'],
      [callItem.id, ':"x"}'],
    ]);
    const items = events
      .filter((event) => event.type === 'response.output_item.done')
      .map((event) => (event.item as { type: string }).type);
    expect(items).toEqual(['mcp_call', 'message']);
  });
});

describe('sub-agents on the stream', () => {
  const agentInput = '/call helper {"input":"/call echo {\\"x\\":1}"}';

  it('shows only the agent call and its output by default', async () => {
    const { text, events } = await readSse(
      await post({ model: 'mock', stream: true, input: agentInput, tools: [serverTool('helper')] }),
    );
    expect(checkSse(text)).toEqual([]);
    expect(events.some((event) => event.type.startsWith('ratchet:'))).toBe(false);
    const items = events
      .filter((event) => event.type === 'response.output_item.done')
      .map((event) => (event.item as { type: string }).type);
    expect(items).toEqual(['mcp_call', 'message']);
    const call = events.find((event) => event.type === 'response.output_item.done')!.item;
    expect(call).toMatchObject({ server_label: 'agent', name: 'helper', status: 'completed' });
  });

  it('adds its internals, namespaced, with stream_options.agent_events', async () => {
    const { text, events } = await readSse(
      await post({
        model: 'mock',
        stream: true,
        stream_options: { agent_events: true },
        input: agentInput,
        tools: [serverTool('helper')],
      }),
    );
    expect(checkSse(text)).toEqual([]);
    const inner = events.filter((event) => event.type === 'ratchet:agent.event');
    expect(inner.length).toBeGreaterThan(0);
    const innerItems = inner
      .map((event) => event.event as { type: string; item?: { type: string } })
      .filter((event) => event.type === 'response.output_item.done')
      .map((event) => event.item?.type);
    expect(innerItems).toEqual(['mcp_call', 'message']);
    expect(inner[0].agent).toMatchObject({ name: 'helper', depth: 1 });
    // The top-level items are the same as without the option.
    const top = events
      .filter((event) => event.type === 'response.output_item.done')
      .map((event) => (event.item as { type: string }).type);
    expect(top).toEqual(['mcp_call', 'message']);
  });
});
