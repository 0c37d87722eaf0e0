import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Pool, type Dispatcher } from 'undici';
import { median, nowMs, summarize, type Summary } from './stats';
import { parseDeltaText, UPSTREAM_MODEL, type StreamUpstream } from './stream-upstream';

// Workload d: streaming. How much later a model's delta reaches a client through ratchet
// than straight from the upstream, and how fast a long response's logged events replay.

/** Untimed pairs of streamed responses (ratchet and direct) before the timed ones. */
const WARMUP_PAIRS = 2;
/** Timed replays per cursor; the median is reported. */
const REPLAY_RUNS = 5;
/** Events in the short replay from near the end: what a replay costs beyond its events. */
const TAIL_EVENTS = 10;
/** A stalled stream fails the run instead of hanging it. */
const REQUEST_TIMEOUT_MS = 60_000;
const TERMINAL_EVENTS = new Set([
  'response.completed',
  'response.failed',
  'response.incomplete',
  'response.cancelled',
]);

export interface StreamingOptions {
  /** Timed streamed responses through ratchet, and as many direct reads of the upstream. */
  responses: number;
  /** Events the replayed response should have. */
  replayEvents: number;
}

export interface ReplayRow {
  /** `starting_after`, or null for a replay from the start. */
  after: number | null;
  events: number;
  bytes: number;
  runsMs: number[];
  medianMs: number;
}

export interface StreamingResult {
  responses: number;
  /** Untimed pairs before them. */
  warmupPairs: number;
  deltasPerResponse: number;
  intervalMs: number;
  /** Upstream write to client read of each delta, reading the upstream directly, ms. */
  direct: Summary;
  /** The same through ratchet: upstream -> worker -> Postgres -> Redis -> API -> client. */
  ratchet: Summary;
  replay: {
    events: number;
    /** Text deltas in the response: one per word the mock model streamed. */
    deltas: number;
    /** Creating the response with stream: true, from the POST to `[DONE]`, ms. */
    liveMs: number;
    rows: ReplayRow[];
  };
}

export async function measureStreaming(
  ratchetUrl: string,
  apiKey: string,
  upstream: StreamUpstream,
  options: StreamingOptions,
): Promise<StreamingResult> {
  const ratchet = new Pool(ratchetUrl, { connections: 4, keepAliveTimeout: 60_000 });
  const direct = new Pool(new URL(upstream.baseUrl).origin, {
    connections: 2,
    keepAliveTimeout: 60_000,
  });
  try {
    const latency = await measureDeltaLatency(
      { ratchet, direct, apiKey, upstream },
      options.responses,
    );
    const replay = await measureReplay(ratchet, apiKey, options.replayEvents);
    return {
      responses: options.responses,
      warmupPairs: WARMUP_PAIRS,
      deltasPerResponse: upstream.options.deltas,
      intervalMs: upstream.options.intervalMs,
      ...latency,
      replay,
    };
  } finally {
    await Promise.all([ratchet.close(), direct.close()]);
  }
}

interface Clients {
  ratchet: Pool;
  direct: Pool;
  apiKey: string;
  upstream: StreamUpstream;
}

/**
 * One streamed response through ratchet, then one direct read of the upstream, alternating,
 * so both see the same machine. Each delta's latency is its arrival at the client minus the
 * moment the upstream wrote it, both on this process's clock.
 */
async function measureDeltaLatency(
  clients: Clients,
  responses: number,
): Promise<{ direct: Summary; ratchet: Summary }> {
  const direct: number[] = [];
  const ratchet: number[] = [];
  for (let i = 0; i < WARMUP_PAIRS + responses; i++) {
    const timed = i >= WARMUP_PAIRS;
    const directSamples = await streamDirect(clients);
    const ratchetSamples = await streamThroughRatchet(clients);
    if (timed) {
      direct.push(...directSamples);
      ratchet.push(...ratchetSamples);
    }
  }
  return { direct: summarize(direct), ratchet: summarize(ratchet) };
}

/** A `model: streamer` response with stream: true; the latency of each text delta. */
async function streamThroughRatchet({ ratchet, apiKey, upstream }: Clients): Promise<number[]> {
  const body = await post(ratchet, '/v1/responses', apiKey, {
    model: 'streamer',
    input: 'hi',
    stream: true,
  });
  const samples: number[] = [];
  const streams = new Set<number>();
  let terminal: EventSourceMessage | null = null;
  await readEventStream(body, (message, at) => {
    if (message.event === 'response.output_text.delta') {
      const { delta } = JSON.parse(message.data) as { delta: string };
      samples.push(at - sentAt(upstream, delta, streams));
    } else if (TERMINAL_EVENTS.has(message.event ?? '')) {
      terminal = message;
    }
  });
  const ended = terminal as EventSourceMessage | null;
  if (ended?.event !== 'response.completed') {
    throw new Error(
      `streamed response ended ${ended?.event ?? 'without a terminal event'}: ${ended?.data.slice(0, 500) ?? ''}`,
    );
  }
  checkDeltas(upstream, samples.length, streams);
  return samples;
}

/** The same upstream read straight, as an application without ratchet would. */
async function streamDirect({ direct, upstream }: Clients): Promise<number[]> {
  const body = await post(direct, '/v1/chat/completions', 'bench', {
    model: UPSTREAM_MODEL,
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const samples: number[] = [];
  const streams = new Set<number>();
  const read = await readEventStream(body, (message, at) => {
    const chunk = JSON.parse(message.data) as {
      choices?: { delta?: { content?: string | null } }[];
    };
    const content = chunk.choices?.[0]?.delta?.content;
    if (content) samples.push(at - sentAt(upstream, content, streams));
  });
  if (!read.done) throw new Error('the upstream stream ended without [DONE]');
  checkDeltas(upstream, samples.length, streams);
  return samples;
}

/** When the upstream wrote the delta whose text is `text`; records its stream in `streams`. */
function sentAt(upstream: StreamUpstream, text: string, streams: Set<number>): number {
  const named = parseDeltaText(text);
  const sent = named ? upstream.sentAt(named.stream, named.index) : undefined;
  if (!named || sent === undefined) throw new Error(`a delta the upstream never sent: '${text}'`);
  streams.add(named.stream);
  return sent;
}

/** Every delta of exactly one upstream stream arrived; forgets that stream's send times. */
function checkDeltas(upstream: StreamUpstream, received: number, streams: Set<number>): void {
  if (streams.size !== 1 || received !== upstream.options.deltas) {
    throw new Error(
      `received ${received} deltas from ${streams.size} upstream streams, expected ${upstream.options.deltas} from 1`,
    );
  }
  streams.forEach((stream) => upstream.forget(stream));
}

/**
 * Creates a streamed background response of the mock model with `events` events in its log
 * (one text delta per word of a `/reply`, plus the lifecycle and item events, counted on a
 * one-word probe first), then replays it from the start, from the middle and near the end.
 */
async function measureReplay(
  pool: Pool,
  apiKey: string,
  events: number,
): Promise<StreamingResult['replay']> {
  const probe = await createReplyResponse(pool, apiKey, 1);
  const overhead = probe.events - 1;
  const words = events - overhead;
  if (words < 1) throw new Error(`BENCH_STREAM_EVENTS must exceed ${overhead}`);
  const created = await createReplyResponse(pool, apiKey, words);
  if (created.events !== events || created.deltas !== words) {
    throw new Error(
      `the long response streamed ${created.events} events with ${created.deltas} deltas, expected ${events} with ${words}`,
    );
  }
  // One untimed replay, so the first timed one does not pay for cold caches.
  await replay(pool, apiKey, created.id, null, events);
  const rows: ReplayRow[] = [];
  for (const after of [null, Math.floor(events / 2) - 1, events - TAIL_EVENTS - 1]) {
    const runsMs: number[] = [];
    let bytes = 0;
    for (let run = 0; run < REPLAY_RUNS; run++) {
      const result = await replay(pool, apiKey, created.id, after, events);
      runsMs.push(result.ms);
      bytes = result.bytes;
    }
    rows.push({
      after,
      events: events - (after ?? -1) - 1,
      bytes,
      runsMs,
      medianMs: median(runsMs),
    });
  }
  return { events, deltas: words, liveMs: created.ms, rows };
}

interface Created {
  id: string;
  events: number;
  deltas: number;
  ms: number;
}

/** POST a background streamed response whose answer is `words` words, read to `[DONE]`. */
async function createReplyResponse(pool: Pool, apiKey: string, words: number): Promise<Created> {
  const text = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  const started = nowMs();
  const body = await post(pool, '/v1/responses', apiKey, {
    model: 'mock',
    input: `/reply ${text}`,
    stream: true,
    background: true,
  });
  let id: string | null = null;
  let deltas = 0;
  let last: EventSourceMessage | null = null;
  const read = await readEventStream(body, (message) => {
    if (message.event === 'response.created') {
      id = (JSON.parse(message.data) as { response: { id: string } }).response.id;
    } else if (message.event === 'response.output_text.delta') {
      deltas += 1;
    }
    last = message;
  });
  const ms = nowMs() - started;
  const ended = last as EventSourceMessage | null;
  if (id === null || !read.done || ended?.event !== 'response.completed') {
    throw new Error(
      `the ${words}-word response did not stream to completion: last event ${ended?.event ?? 'none'}`,
    );
  }
  return { id, events: read.events, deltas, ms };
}

/** GET the response's events after `after` (all without) to `[DONE]`; checks their numbers. */
async function replay(
  pool: Pool,
  apiKey: string,
  id: string,
  after: number | null,
  total: number,
): Promise<{ ms: number; bytes: number }> {
  const query = after === null ? 'stream=true' : `stream=true&starting_after=${after}`;
  const started = nowMs();
  const body = await request(pool, 'GET', `/v1/responses/${id}?${query}`, apiKey, undefined);
  let expected = (after ?? -1) + 1;
  const read = await readEventStream(body, (message) => {
    if (message.id !== String(expected)) {
      throw new Error(`replay after ${after}: event id ${message.id}, expected ${expected}`);
    }
    expected += 1;
  });
  const ms = nowMs() - started;
  if (!read.done || expected !== total) {
    throw new Error(`replay after ${after} ended at event ${expected - 1}, expected ${total - 1}`);
  }
  return { ms, bytes: read.bytes };
}

function post(
  pool: Pool,
  path: string,
  apiKey: string,
  body: Record<string, unknown>,
): Promise<Dispatcher.ResponseData['body']> {
  return request(pool, 'POST', path, apiKey, JSON.stringify(body));
}

/** Sends a request that must answer 200 with an event stream; returns the unread body. */
async function request(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  apiKey: string,
  body: string | undefined,
): Promise<Dispatcher.ResponseData['body']> {
  const response = await pool.request({
    method,
    path,
    headers: {
      authorization: `Bearer ${apiKey}`,
      accept: 'text/event-stream',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const type = String(response.headers['content-type'] ?? '');
  if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
    const text = await response.body.text();
    throw new Error(
      `${method} ${path}: HTTP ${response.statusCode} (${type}): ${text.slice(0, 500)}`,
    );
  }
  return response.body;
}

/**
 * Reads an SSE body to its end, handing each event (but `[DONE]`) to `onEvent` with the
 * moment the bytes that completed it arrived. Throws what `onEvent` throws.
 */
async function readEventStream(
  body: Dispatcher.ResponseData['body'],
  onEvent: (message: EventSourceMessage, at: number) => void,
): Promise<{ events: number; bytes: number; done: boolean }> {
  let at = 0;
  let events = 0;
  let bytes = 0;
  let done = false;
  const parser = createParser({
    onEvent: (message) => {
      if (message.data === '[DONE]') {
        done = true;
        return;
      }
      if (done) throw new Error(`an event after [DONE]: ${message.event}`);
      events += 1;
      onEvent(message, at);
    },
  });
  const utf8 = new TextDecoder();
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      at = nowMs();
      bytes += chunk.length;
      parser.feed(utf8.decode(chunk, { stream: true }));
    }
  } finally {
    if (!body.readableEnded) body.destroy();
  }
  return { events, bytes, done };
}
