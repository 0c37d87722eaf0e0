import { setTimeout as delay } from 'node:timers/promises';
import { OpenAIChatProvider } from './openai-chat.provider';
import { ThinkTagSplitter } from './think-tags';
import { type Handler, TestUpstream } from './testing/upstream-server';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import type { ModelCallRequest, ModelDelta } from './provider';

// A real upstream on 127.0.0.1 writing SSE transcripts in pieces with small pauses, so the
// provider sees chunk boundaries inside JSON lines and tags, and real sockets close on abort.

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});

beforeEach(() => upstream.reset());

afterAll(() => upstream.close());

/** One `data:` event per chunk object (or raw string), then `[DONE]` unless told otherwise. */
function transcript(chunks: readonly (object | string)[], done = true): string {
  const events = chunks.map((chunk) =>
    typeof chunk === 'string' ? `data: ${chunk}\n\n` : `data: ${JSON.stringify(chunk)}\n\n`,
  );
  if (done) events.push('data: [DONE]\n\n');
  return events.join('');
}

/** Writes `text` in pieces of `size` characters, pausing between them. */
function serveInPieces(text: string, size = 37, options: { end?: boolean } = {}): Handler {
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return serveExactly(pieces, options);
}

/** Writes each piece as given, pausing between them, so boundaries fall where a test wants. */
function serveExactly(pieces: readonly string[], options: { end?: boolean } = {}): Handler {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    void (async () => {
      for (const piece of pieces) {
        if (response.destroyed) return;
        response.write(piece);
        await delay(2);
      }
      // Destroying instead of ending is a dropped connection, as a crashed upstream leaves.
      if (options.end === false) response.destroy();
      else response.end();
    })();
  };
}

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): object {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    model: 'gpt-test',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

function usageChunk(usage: Record<string, unknown>): object {
  return { id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [], usage };
}

const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };

function streamingRequest(
  deltas: ModelDelta[],
  overrides: Partial<ModelCallRequest> = {},
): ModelCallRequest {
  return modelRequest({ onDelta: (delta) => deltas.push(delta), ...overrides });
}

function provider(timeoutMs = 5_000): OpenAIChatProvider {
  return new OpenAIChatProvider({ baseUrl: upstream.baseUrl, headers: {}, timeoutMs });
}

function newItemId(prefix: string): unknown {
  return expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{24}$`));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

function joined(deltas: readonly ModelDelta[], type: ModelDelta['type']): string {
  return deltas
    .filter((delta) => delta.type === type)
    .map((delta) => delta.delta)
    .join('');
}

describe('OpenAIChatProvider streaming', () => {
  it('asks for a stream with usage and accepts event-stream', async () => {
    upstream.handler = serveInPieces(
      transcript([chunk({ role: 'assistant', content: 'ok' }, 'stop'), usageChunk(USAGE)]),
    );

    await provider().call(streamingRequest([]));

    expect(upstream.bodies).toEqual([
      {
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Hi' }],
        prompt_cache_key: expect.stringMatching(/^ratchet-[0-9a-f]{32}$/) as unknown,
        stream: true,
        stream_options: { include_usage: true },
      },
    ]);
  });

  it('reports text deltas in order, split inside JSON lines, and returns the same text and id', async () => {
    const words = ['Hel', 'lo', ', ', 'wor', 'ld', '!'];
    upstream.handler = serveInPieces(
      transcript([
        chunk({ role: 'assistant', content: '' }),
        ...words.map((word) => chunk({ content: word })),
        chunk({}, 'stop'),
        usageChunk(USAGE),
      ]),
      23,
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    const itemId = result.output[0]?.id;
    expect(deltas).toEqual(words.map((delta) => ({ type: 'text', itemId, delta })));
    expect(result).toEqual({
      output: [
        {
          type: 'message',
          id: newItemId('msg'),
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Hello, world!', annotations: [], logprobs: [] }],
        },
      ],
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 15,
      },
      finishReason: 'stop',
    });
  });

  it('assembles interleaved parallel tool calls by index, naming each fragment by its call', async () => {
    const call = (index: number, fields: Record<string, unknown>): object =>
      chunk({ tool_calls: [{ index, ...fields }] });
    upstream.handler = serveInPieces(
      transcript([
        chunk({ role: 'assistant', content: null }),
        call(0, {
          id: 'call_a',
          type: 'function',
          function: { name: 'get_weather', arguments: '' },
        }),
        call(0, { function: { arguments: '{"ci' } }),
        call(1, { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{' } }),
        call(0, { function: { arguments: 'ty":"Oslo"}' } }),
        call(1, { function: { arguments: '"tz":"UTC"}' } }),
        chunk({}, 'tool_calls'),
        usageChunk(USAGE),
      ]),
      29,
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'call_a',
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'call_b',
        name: 'get_time',
        arguments: '{"tz":"UTC"}',
        status: 'completed',
      },
    ]);
    const [first, second] = result.output;
    const argumentsOf = (itemId: string | undefined): string =>
      joined(
        deltas.filter((delta) => delta.itemId === itemId),
        'arguments',
      );
    expect(argumentsOf(first?.id)).toBe('{"city":"Oslo"}');
    expect(argumentsOf(second?.id)).toBe('{"tz":"UTC"}');
    expect(deltas).toEqual([
      expect.objectContaining({ itemId: first?.id, callId: 'call_a', delta: '{"ci' }),
      expect.objectContaining({ itemId: second?.id, callId: 'call_b', delta: '{' }),
      expect.objectContaining({ itemId: first?.id, name: 'get_weather', delta: 'ty":"Oslo"}' }),
      expect.objectContaining({ itemId: second?.id, name: 'get_time', delta: '"tz":"UTC"}' }),
    ]);
  });

  it('puts reasoning_content first as a reasoning item, with usage details', async () => {
    upstream.handler = serveInPieces(
      transcript([
        chunk({ role: 'assistant', reasoning_content: 'Six ' }),
        chunk({ reasoning_content: 'times seven.' }),
        chunk({ content: '42' }),
        chunk({}, 'stop'),
        usageChunk({
          prompt_tokens: 120,
          completion_tokens: 30,
          total_tokens: 150,
          prompt_tokens_details: { cached_tokens: 64 },
          completion_tokens_details: { reasoning_tokens: 12 },
        }),
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    const [reasoning, message] = result.output;
    expect(reasoning).toEqual({
      type: 'reasoning',
      id: newItemId('rs'),
      summary: [],
      content: [{ type: 'reasoning_text', text: 'Six times seven.' }],
      status: 'completed',
    });
    expect(message).toMatchObject({ type: 'message', content: [{ text: '42' }] });
    expect(deltas).toEqual([
      { type: 'reasoning', itemId: reasoning?.id, delta: 'Six ' },
      { type: 'reasoning', itemId: reasoning?.id, delta: 'times seven.' },
      { type: 'text', itemId: message?.id, delta: '42' },
    ]);
    expect(result.usage).toEqual({
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 64 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 12 },
      total_tokens: 150,
    });
  });

  it('reads a <think> span split across chunks as reasoning and the rest as text', async () => {
    const pieces = ['<thi', 'nk>\nLet me', ' think.</th', 'ink>\n\nThe answer', ' is 4.'];
    const text = transcript([
      ...pieces.map((content) => chunk({ content })),
      chunk({}, 'stop'),
      usageChunk(USAGE),
    ]);
    // Boundaries inside the JSON lines too: cut each event in two.
    upstream.handler = serveExactly(
      text.split('\n\n').flatMap((event) => [event.slice(0, 20), event.slice(20) + '\n\n']),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      expect.objectContaining({
        type: 'reasoning',
        content: [{ type: 'reasoning_text', text: 'Let me think.' }],
      }),
      expect.objectContaining({
        type: 'message',
        content: [expect.objectContaining({ type: 'output_text', text: 'The answer is 4.' })],
      }),
    ]);
    expect(joined(deltas, 'reasoning')).toBe('Let me think.');
    expect(joined(deltas, 'text')).toBe('The answer is 4.');
    expect(deltas.every((delta) => !delta.delta.includes('<'))).toBe(true);
  });

  it('streams a refusal into a refusal part', async () => {
    upstream.handler = serveInPieces(
      transcript([
        chunk({ role: 'assistant', refusal: 'I cannot ' }),
        chunk({ refusal: 'help with that.' }),
        chunk({}, 'stop'),
        usageChunk(USAGE),
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      expect.objectContaining({
        type: 'message',
        content: [{ type: 'refusal', refusal: 'I cannot help with that.' }],
      }),
    ]);
    expect(deltas.map((delta) => [delta.type, delta.itemId])).toEqual([
      ['refusal', result.output[0]?.id],
      ['refusal', result.output[0]?.id],
    ]);
  });

  it.each([
    ['length', 'length', 'incomplete'],
    ['content_filter', 'content_filter', 'completed'],
  ] as const)('maps finish_reason %s to %s', async (finishReason, expected, status) => {
    upstream.handler = serveInPieces(
      transcript([chunk({ content: 'Once upon' }), chunk({}, finishReason), usageChunk(USAGE)]),
    );

    const result = await provider().call(streamingRequest([]));

    expect(result.finishReason).toBe(expected);
    expect(result.output).toEqual([expect.objectContaining({ type: 'message', status })]);
  });

  it('answers an empty message when the turn says nothing, like the non-streaming path', async () => {
    upstream.handler = serveInPieces(
      transcript([chunk({ role: 'assistant' }, 'stop'), usageChunk(USAGE)]),
    );

    const result = await provider().call(streamingRequest([]));

    expect(result.output).toEqual([
      expect.objectContaining({
        type: 'message',
        content: [expect.objectContaining({ text: '' })],
      }),
    ]);
  });
});

describe('OpenAIChatProvider streaming failures', () => {
  it('rejects a chunk that is not JSON as a bad response and closes the stream', async () => {
    upstream.handler = serveInPieces(
      transcript([chunk({ content: 'Hi' }), '{"choices": [{"delta"']),
    );

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
  });

  it('reports a stream cut mid-way as truncated and retryable', async () => {
    const text = transcript([chunk({ content: 'Hello' }), chunk({ content: ' there' })], false);
    upstream.handler = serveInPieces(text + 'data: {"choices":[{"in', 40, { end: false });
    const deltas: ModelDelta[] = [];

    const error = await upstreamFailure(provider().call(streamingRequest(deltas)));

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
    expect(joined(deltas, 'text')).toBe('Hello there');
  });

  it('requires [DONE] even after a finish_reason and usage', async () => {
    upstream.handler = serveInPieces(
      transcript([chunk({ content: 'Hi' }, 'stop'), usageChunk(USAGE)], false),
    );

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
  });

  it('requires a finish_reason even with [DONE]', async () => {
    upstream.handler = serveInPieces(transcript([chunk({ content: 'Hi' }), usageChunk(USAGE)]));

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
  });

  it('turns an error object in the stream into an UpstreamError with its message', async () => {
    upstream.handler = serveInPieces(
      transcript(
        [
          chunk({ content: 'Hi' }),
          { error: { message: 'The model crashed.', type: 'server_error', code: null } },
        ],
        false,
      ),
    );

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({
      message: 'The model crashed.',
      code: 'upstream_error',
      retryable: true,
    });
  });

  it('classifies an HTTP error before the stream as the non-streaming path does', async () => {
    upstream.handler = (_request, response) => {
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' });
      response.end(
        JSON.stringify({ error: { message: 'Slow down.', code: 'rate_limit_exceeded' } }),
      );
    };

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({
      message: 'Slow down.',
      code: 'rate_limit_exceeded',
      status: 429,
      retryable: true,
      retryAfterMs: 2_000,
    });
  });

  it('times out a stream that stalls, under the whole-call timeout', async () => {
    upstream.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(transcript([chunk({ content: 'Hi' })], false));
    };

    const error = await within(3_000, upstreamFailure(provider(200).call(streamingRequest([]))));

    expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
    await within(2_000, upstream.abandoned);
  });

  it('closes the connection and rejects with the abort reason when cancelled mid-stream', async () => {
    const controller = new AbortController();
    upstream.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(transcript([chunk({ content: 'Hi' })], false));
      // Then nothing more: the caller cancels while waiting.
    };
    const deltas: ModelDelta[] = [];
    const reason = new Error('cancelled by client');

    const outcome = failure(
      provider().call(
        streamingRequest(deltas, {
          signal: controller.signal,
          onDelta: (delta) => {
            deltas.push(delta);
            controller.abort(reason);
          },
        }),
      ),
    );

    expect(await within(2_000, outcome)).toBe(reason);
    await within(1_000, upstream.abandoned);
    expect(deltas).toHaveLength(1);
  });

  it('lets an error thrown by the listener through unchanged', async () => {
    upstream.handler = serveInPieces(
      transcript([chunk({ content: 'Hi' }, 'stop'), usageChunk(USAGE)]),
    );
    const bug = new TypeError('listener bug');

    const error = await failure(
      provider().call(
        streamingRequest([], {
          onDelta: () => {
            throw bug;
          },
        }),
      ),
    );

    expect(error).toBe(bug);
  });
});

describe('ThinkTagSplitter', () => {
  function split(pieces: readonly string[]): Array<[string, string]> {
    const splitter = new ThinkTagSplitter();
    const out = [...pieces.flatMap((piece) => splitter.push(piece)), ...splitter.end()];
    return out.map((piece) => [piece.kind, piece.text]);
  }

  it('passes content without a leading tag straight through, even one that mentions it', () => {
    expect(split(['Use ', '<think> tags', '.'])).toEqual([
      ['text', 'Use '],
      ['text', '<think> tags'],
      ['text', '.'],
    ]);
  });

  it('holds back a possible tag until it is decided', () => {
    expect(split(['<', 'b>bold'])).toEqual([['text', '<b>bold']]);
    expect(split(['\n<th', 'ink>', 'x</', 'think>y'])).toEqual([
      ['reasoning', 'x'],
      ['text', 'y'],
    ]);
  });

  it('keeps a span that never closes as reasoning, and a lone partial tag as text', () => {
    expect(split(['<think>still going</thi'])).toEqual([
      ['reasoning', 'still going'],
      ['reasoning', '</thi'],
    ]);
    expect(split(['<thi'])).toEqual([['text', '<thi']]);
  });
});
