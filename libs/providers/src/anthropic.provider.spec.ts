import type { ModelItem } from '@ratchet/core';
import type { ServerResponse } from 'node:http';
import { AnthropicProvider, type AnthropicProviderOptions } from './anthropic.provider';
import { encodeThinking } from './anthropic.thinking';
import { type RecordedRequest, sendJson, TestUpstream } from './testing/upstream-server';
import {
  modelRequest as baseRequest,
  upstreamFailure,
  userMessage,
  within,
} from './testing/fixtures';
import type { ModelCallRequest, ModelDelta } from './provider';

// A real Anthropic-style upstream on 127.0.0.1: undici bypasses in-process HTTP mocks, and a
// real socket is the only way to see a stream cut off or a connection closed on abort.

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});

beforeEach(() =>
  upstream.reset((_request, response) => sendJson(response, 200, message([textBlock('ok')]))),
);

afterAll(() => upstream.close());

function message(
  content: unknown[],
  stopReason = 'end_turn',
  usage: Record<string, unknown> = { input_tokens: 10, output_tokens: 5 },
): unknown {
  return {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-test',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  };
}

function textBlock(text: string): unknown {
  return { type: 'text', text };
}

function anthropicError(type: string, text: string): unknown {
  return { type: 'error', error: { type, message: text } };
}

/** An SSE event the way Anthropic frames it: the event name repeats the data's type. */
function sse(data: { type: string } & Record<string, unknown>): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function startStream(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

function provider(options: Partial<AnthropicProviderOptions> = {}): AnthropicProvider {
  return new AnthropicProvider({
    baseUrl: upstream.baseUrl,
    headers: {},
    timeoutMs: 5_000,
    ...options,
  });
}

function modelRequest(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return baseRequest({ model: 'claude-test', ...overrides });
}

function functionCall(callId: string, name: string, args: string): ModelItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    call_id: callId,
    name,
    arguments: args,
    status: 'completed',
  };
}

function functionOutput(callId: string, output: string): ModelItem {
  return {
    type: 'function_call_output',
    id: `fco_${callId}`,
    call_id: callId,
    output,
    status: 'completed',
  };
}

function onlyRequest(): RecordedRequest {
  expect(upstream.received).toHaveLength(1);
  return upstream.received[0];
}

/** Matches a fresh id from newId. */
function newItemId(prefix: string): unknown {
  return expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{24}$`));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (caught: unknown) => caught,
  );
}

describe('AnthropicProvider encoding', () => {
  it('posts to /messages with the api key, version and configured headers, system lifted out', async () => {
    await provider({ apiKey: 'sk-ant-test', headers: { 'X-Team': 'core' } }).call(
      modelRequest({
        instructions: 'Be brief.',
        input: [
          {
            type: 'message',
            id: 'msg_s',
            role: 'system',
            status: 'completed',
            content: [{ type: 'input_text', text: 'Answer in English.' }],
          },
          userMessage('Hi'),
        ],
      }),
    );

    const request = onlyRequest();
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/messages');
    expect(request.headers).toMatchObject({
      'x-api-key': 'sk-ant-test',
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
      accept: 'application/json',
      'x-team': 'core',
    });
    expect(request.headers.authorization).toBeUndefined();
    // max_tokens is required by Anthropic, so it goes even when the request sets no limit.
    expect(request.body).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      system: 'Be brief.\n\nAnswer in English.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
  });

  it('sends no x-api-key without an api key and lets configured headers replace the version', async () => {
    await provider({ headers: { 'Anthropic-Version': '2099-01-01' } }).call(modelRequest());

    const { headers } = onlyRequest();
    expect(headers['x-api-key']).toBeUndefined();
    expect(headers['anthropic-version']).toBe('2099-01-01');
  });

  it('alternates roles, pairs tool_use with tool_result by call id and drops reasoning', async () => {
    await provider().call(
      modelRequest({
        input: [
          userMessage('Weather in Paris and Oslo?'),
          {
            type: 'reasoning',
            id: 'rs_1',
            summary: [],
            content: [{ type: 'reasoning_text', text: 'Two lookups.' }],
          },
          {
            type: 'message',
            id: 'msg_a',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'Looking up.', annotations: [], logprobs: [] }],
          },
          functionCall('toolu_paris', 'weather', '{"city":"Paris"}'),
          functionCall('toolu_oslo', 'weather', '{"city":'),
          functionOutput('toolu_paris', '18C'),
          functionOutput('toolu_oslo', '4C'),
          {
            type: 'message',
            id: 'msg_d',
            role: 'developer',
            status: 'completed',
            content: [{ type: 'input_text', text: 'Use Celsius.' }],
          },
          {
            type: 'message',
            id: 'msg_u2',
            role: 'user',
            status: 'completed',
            content: [
              { type: 'input_text', text: 'And these?' },
              { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'auto' },
              { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0K', detail: 'low' },
              { type: 'input_text', text: '' },
            ],
          },
          {
            type: 'message',
            id: 'msg_empty',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: '', annotations: [], logprobs: [] }],
          },
          userMessage('Thanks.'),
        ],
      }),
    );

    expect(onlyRequest().body).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      system: 'Use Celsius.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Oslo?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking up.' },
            { type: 'tool_use', id: 'toolu_paris', name: 'weather', input: { city: 'Paris' } },
            // Arguments that are not a JSON object go as an empty input.
            { type: 'tool_use', id: 'toolu_oslo', name: 'weather', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_paris', content: '18C' },
            { type: 'tool_result', tool_use_id: 'toolu_oslo', content: '4C' },
            { type: 'text', text: 'And these?' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
            {
              type: 'image',
              source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' },
            },
            // The empty assistant message between is skipped, so the user turns merge.
            { type: 'text', text: 'Thanks.' },
          ],
        },
      ],
    });
  });

  it('puts a tool result that follows user text first in the merged user turn', async () => {
    await provider().call(
      modelRequest({
        input: [
          userMessage('Go.'),
          functionCall('toolu_1', 'run', '{}'),
          userMessage('Also this.'),
          functionOutput('toolu_1', 'done'),
        ],
      }),
    );

    expect(onlyRequest().body).toMatchObject({
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Go.' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'run', input: {} }],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'done' },
            { type: 'text', text: 'Also this.' },
          ],
        },
      ],
    });
  });

  it('sends tools with input schemas, sampling settings and max_tokens', async () => {
    await provider().call(
      modelRequest({
        tools: [
          {
            type: 'function',
            name: 'weather',
            description: 'Current weather.',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
          { type: 'function', name: 'now', description: null, parameters: null, strict: null },
        ],
        maxOutputTokens: 256,
        temperature: 0.2,
        topP: 0.9,
      }),
    );

    expect(onlyRequest().body).toEqual({
      model: 'claude-test',
      max_tokens: 256,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      tools: [
        {
          name: 'weather',
          description: 'Current weather.',
          input_schema: { type: 'object', properties: { city: { type: 'string' } } },
        },
        { name: 'now', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'auto' },
      temperature: 0.2,
      top_p: 0.9,
    });
  });

  it.each<[ModelCallRequest['toolChoice'], boolean, unknown]>([
    ['auto', true, { type: 'auto' }],
    ['auto', false, { type: 'auto', disable_parallel_tool_use: true }],
    ['required', true, { type: 'any' }],
    ['required', false, { type: 'any', disable_parallel_tool_use: true }],
    [
      { type: 'function', name: 'now' },
      false,
      { type: 'tool', name: 'now', disable_parallel_tool_use: true },
    ],
    ['none', false, { type: 'none' }],
  ])('maps tool_choice %j with parallel calls %s', async (toolChoice, parallel, expected) => {
    const now = {
      type: 'function' as const,
      name: 'now',
      description: null,
      parameters: null,
      strict: null,
    };
    await provider().call(modelRequest({ tools: [now], toolChoice, parallelToolCalls: parallel }));

    expect(onlyRequest().body).toMatchObject({ tool_choice: expected });
  });

  it('sends neither tools nor tool_choice when no tools are offered', async () => {
    await provider().call(modelRequest({ toolChoice: 'required', parallelToolCalls: false }));

    const body = onlyRequest().body as Record<string, unknown>;
    expect(body.tools).toBeUndefined();
    expect(body.tool_choice).toBeUndefined();
  });

  it('rejects a JSON text format and an image by file id without calling the upstream', async () => {
    const jsonFormat = await upstreamFailure(
      provider().call(modelRequest({ textFormat: { type: 'json_object' } })),
    );
    const fileImage = await upstreamFailure(
      provider().call(
        modelRequest({
          input: [
            {
              type: 'message',
              id: 'msg_u',
              role: 'user',
              status: 'completed',
              content: [{ type: 'input_image', file_id: 'file_1', detail: 'auto' }],
            },
          ],
        }),
      ),
    );

    expect(jsonFormat).toMatchObject({ code: 'unsupported_input', retryable: false });
    expect(fileImage).toMatchObject({ code: 'unsupported_input', retryable: false });
    expect(upstream.received).toHaveLength(0);
  });
});

describe('AnthropicProvider decoding', () => {
  it('decodes text in one message with usage, counting cache reads and writes as input', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        message([textBlock('Hello, '), textBlock('world.')], 'end_turn', {
          input_tokens: 12,
          cache_creation_input_tokens: 100,
          cache_read_input_tokens: 300,
          output_tokens: 7,
        }),
      );

    const result = await provider().call(modelRequest());

    expect(result).toEqual({
      output: [
        {
          type: 'message',
          id: newItemId('msg'),
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Hello, world.', annotations: [], logprobs: [] }],
        },
      ],
      usage: {
        input_tokens: 412,
        input_tokens_details: { cached_tokens: 300 },
        output_tokens: 7,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 419,
      },
      finishReason: 'stop',
    });
  });

  it('decodes thinking, text and parallel tool_use blocks in order, keeping the tool_use ids', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        message(
          [
            { type: 'thinking', thinking: 'Two cities.', signature: 'sig' },
            { type: 'redacted_thinking', data: 'opaque' },
            textBlock('Checking both.'),
            { type: 'tool_use', id: 'toolu_a', name: 'weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_b', name: 'weather', input: { city: 'Oslo' } },
          ],
          'tool_use',
        ),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      {
        type: 'reasoning',
        id: newItemId('rs'),
        summary: [],
        content: [{ type: 'reasoning_text', text: 'Two cities.' }],
        status: 'completed',
        // The whole signed block, so it can go back to the model that wrote it.
        encrypted_content: encodeThinking(
          { type: 'thinking', thinking: 'Two cities.', signature: 'sig' },
          'claude-test',
        ),
      },
      {
        type: 'reasoning',
        id: newItemId('rs'),
        summary: [],
        status: 'completed',
        encrypted_content: encodeThinking(
          { type: 'redacted_thinking', data: 'opaque' },
          'claude-test',
        ),
      },
      {
        type: 'message',
        id: newItemId('msg'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Checking both.', annotations: [], logprobs: [] }],
      },
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'toolu_a',
        name: 'weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'toolu_b',
        name: 'weather',
        arguments: '{"city":"Oslo"}',
        status: 'completed',
      },
    ]);
  });

  it('marks output cut off by max_tokens as incomplete with finish reason length', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, message([textBlock('Once upon')], 'max_tokens'));

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('length');
    expect(result.output).toMatchObject([{ type: 'message', status: 'incomplete' }]);
  });

  it('maps a refusal stop to content_filter and still answers with an empty message', async () => {
    upstream.handler = (_request, response) => sendJson(response, 200, message([], 'refusal'));

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('content_filter');
    expect(result.output).toMatchObject([
      { type: 'message', content: [{ type: 'output_text', text: '' }] },
    ]);
  });
});

describe('AnthropicProvider streaming', () => {
  /** Thinking, text split over two deltas, then two tool calls with fragmented JSON input. */
  const transcript = [
    sse({
      type: 'message_start',
      message: {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        usage: { input_tokens: 20, cache_read_input_tokens: 50, output_tokens: 1 },
      },
    }),
    sse({ type: 'ping' }),
    sse({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    }),
    sse({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'Need both ' },
    }),
    sse({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'cities.' },
    }),
    sse({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'signature_delta', signature: 'sig' },
    }),
    sse({ type: 'content_block_stop', index: 0 }),
    sse({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
    sse({
      type: 'content_block_delta',
      index: 1,
      delta: { type: 'text_delta', text: 'Checking ' },
    }),
    sse({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'both ☀.' } }),
    sse({ type: 'content_block_stop', index: 1 }),
    sse({
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'tool_use', id: 'toolu_a', name: 'weather', input: {} },
    }),
    sse({
      type: 'content_block_delta',
      index: 2,
      delta: { type: 'input_json_delta', partial_json: '' },
    }),
    sse({
      type: 'content_block_delta',
      index: 2,
      delta: { type: 'input_json_delta', partial_json: '{"city": ' },
    }),
    sse({
      type: 'content_block_delta',
      index: 2,
      delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
    }),
    sse({ type: 'content_block_stop', index: 2 }),
    sse({
      type: 'content_block_start',
      index: 3,
      content_block: { type: 'tool_use', id: 'toolu_b', name: 'weather', input: {} },
    }),
    sse({
      type: 'content_block_delta',
      index: 3,
      delta: { type: 'input_json_delta', partial_json: '{"ci' },
    }),
    sse({
      type: 'content_block_delta',
      index: 3,
      delta: { type: 'input_json_delta', partial_json: 'ty": "Oslo"}' },
    }),
    sse({ type: 'content_block_stop', index: 3 }),
    sse({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 42 },
    }),
    sse({ type: 'message_stop' }),
  ].join('');

  it('reports deltas in order under the final items ids and assembles the same result', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      // Odd-sized chunks split events, lines and the multi-byte sun mid-character.
      const bytes = Buffer.from(transcript, 'utf8');
      for (let offset = 0; offset < bytes.length; offset += 7) {
        response.write(bytes.subarray(offset, offset + 7));
      }
      response.end();
    };
    const deltas: ModelDelta[] = [];

    const result = await provider().call(modelRequest({ onDelta: (delta) => deltas.push(delta) }));

    const request = onlyRequest();
    expect(request.body).toMatchObject({ stream: true });
    expect(request.headers.accept).toBe('text/event-stream');
    const [reasoning, text, callA, callB] = result.output;
    expect(deltas).toEqual([
      { type: 'reasoning', itemId: reasoning.id, delta: 'Need both ' },
      { type: 'reasoning', itemId: reasoning.id, delta: 'cities.' },
      { type: 'text', itemId: text.id, delta: 'Checking ' },
      { type: 'text', itemId: text.id, delta: 'both ☀.' },
      {
        type: 'arguments',
        itemId: callA.id,
        callId: 'toolu_a',
        name: 'weather',
        delta: '{"city": ',
      },
      {
        type: 'arguments',
        itemId: callA.id,
        callId: 'toolu_a',
        name: 'weather',
        delta: '"Paris"}',
      },
      { type: 'arguments', itemId: callB.id, callId: 'toolu_b', name: 'weather', delta: '{"ci' },
      {
        type: 'arguments',
        itemId: callB.id,
        callId: 'toolu_b',
        name: 'weather',
        delta: 'ty": "Oslo"}',
      },
    ]);
    expect(result).toEqual({
      output: [
        {
          type: 'reasoning',
          id: newItemId('rs'),
          summary: [],
          content: [{ type: 'reasoning_text', text: 'Need both cities.' }],
          status: 'completed',
          // The signature streamed after the text; the block is encoded whole.
          encrypted_content: encodeThinking(
            { type: 'thinking', thinking: 'Need both cities.', signature: 'sig' },
            'claude-test',
          ),
        },
        {
          type: 'message',
          id: newItemId('msg'),
          role: 'assistant',
          status: 'completed',
          content: [
            { type: 'output_text', text: 'Checking both ☀.', annotations: [], logprobs: [] },
          ],
        },
        {
          type: 'function_call',
          id: newItemId('fc'),
          call_id: 'toolu_a',
          name: 'weather',
          arguments: '{"city": "Paris"}',
          status: 'completed',
        },
        {
          type: 'function_call',
          id: newItemId('fc'),
          call_id: 'toolu_b',
          name: 'weather',
          arguments: '{"city": "Oslo"}',
          status: 'completed',
        },
      ],
      usage: {
        input_tokens: 70,
        input_tokens_details: { cached_tokens: 50 },
        output_tokens: 42,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 112,
      },
      finishReason: 'tool_calls',
    });
  });

  it('gives a call that streams no input the arguments {}', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.end(
        [
          sse({ type: 'message_start', message: { usage: { input_tokens: 3, output_tokens: 1 } } }),
          sse({
            type: 'content_block_start',
            index: 0,
            content_block: { type: 'tool_use', id: 'toolu_now', name: 'now', input: {} },
          }),
          sse({
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'input_json_delta', partial_json: '' },
          }),
          sse({ type: 'content_block_stop', index: 0 }),
          sse({
            type: 'message_delta',
            delta: { stop_reason: 'tool_use' },
            usage: { output_tokens: 9 },
          }),
          sse({ type: 'message_stop' }),
        ].join(''),
      );
    };
    const deltas: ModelDelta[] = [];

    const result = await provider().call(modelRequest({ onDelta: (delta) => deltas.push(delta) }));

    expect(deltas).toEqual([]);
    expect(result.output).toMatchObject([
      { type: 'function_call', call_id: 'toolu_now', name: 'now', arguments: '{}' },
    ]);
  });

  it('turns an overloaded_error event into a retryable error', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.write(sse({ type: 'message_start', message: { usage: { input_tokens: 3 } } }));
      response.end(sse(anthropicError('overloaded_error', 'Overloaded') as { type: string }));
    };

    const error = await upstreamFailure(provider().call(modelRequest({ onDelta: () => {} })));

    expect(error).toMatchObject({
      message: 'Overloaded',
      code: 'upstream_error',
      retryable: true,
      status: null,
    });
  });

  it('turns an invalid_request_error event into a non-retryable error', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.end(sse(anthropicError('invalid_request_error', 'Bad input.') as { type: string }));
    };

    const error = await upstreamFailure(provider().call(modelRequest({ onDelta: () => {} })));

    expect(error).toMatchObject({ message: 'Bad input.', retryable: false });
  });

  it('reports a stream that ends without message_stop as truncated', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.write(sse({ type: 'message_start', message: { usage: { input_tokens: 3 } } }));
      response.write(sse({ type: 'content_block_start', index: 0, content_block: textBlock('') }));
      response.end(
        sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hal' } }),
      );
    };
    const deltas: ModelDelta[] = [];

    const error = await upstreamFailure(
      provider().call(modelRequest({ onDelta: (delta) => deltas.push(delta) })),
    );

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
    expect(deltas).toMatchObject([{ type: 'text', delta: 'Hal' }]);
  });

  it('reports a connection dropped mid-stream as truncated', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.write(sse({ type: 'message_start', message: { usage: { input_tokens: 3 } } }), () =>
        response.destroy(),
      );
    };

    const error = await within(
      2_000,
      upstreamFailure(provider().call(modelRequest({ onDelta: () => {} }))),
    );

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
  });

  it('stops reading and rejects with the listener error when a delta listener throws', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.write(sse({ type: 'content_block_start', index: 0, content_block: textBlock('') }));
      response.write(
        sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x' } }),
      );
      // Never finishes: only the client closing ends this response.
    };
    const listenerError = new Error('listener broke');

    const error = await within(
      2_000,
      failure(
        provider().call(
          modelRequest({
            onDelta: () => {
              throw listenerError;
            },
          }),
        ),
      ),
    );

    expect(error).toBe(listenerError);
    await within(2_000, upstream.abandoned);
  });
});

describe('AnthropicProvider errors', () => {
  it('turns a 529 overloaded into a retryable error with the upstream message and Retry-After', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 529, anthropicError('overloaded_error', 'Overloaded'), {
        'retry-after': '3',
      });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      message: 'Overloaded',
      code: 'upstream_error',
      status: 529,
      retryable: true,
      retryAfterMs: 3_000,
    });
  });

  it('classifies a 529 before a stream starts the same way', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 529, anthropicError('overloaded_error', 'Overloaded'));

    const error = await upstreamFailure(provider().call(modelRequest({ onDelta: () => {} })));

    expect(error).toMatchObject({ message: 'Overloaded', status: 529, retryable: true });
  });

  it('turns a 400 invalid_request_error into a non-retryable error with its message', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        400,
        anthropicError('invalid_request_error', 'messages: roles must alternate'),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      message: 'messages: roles must alternate',
      code: 'upstream_error',
      status: 400,
      retryable: false,
    });
  });

  it('recognises a prompt that is too long', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        400,
        anthropicError(
          'invalid_request_error',
          'prompt is too long: 210000 tokens > 200000 maximum',
        ),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'context_length_exceeded', retryable: false });
  });

  it('classifies a 401 as an auth error', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 401, anthropicError('authentication_error', 'invalid x-api-key'));

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'upstream_auth_error', message: 'invalid x-api-key' });
  });

  it('rejects a 2xx body that is not a message', async () => {
    upstream.handler = (_request, response) => sendJson(response, 200, { choices: [] });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
  });

  it('gives up after timeoutMs and closes the connection', async () => {
    upstream.handler = () => {
      // Never answer.
    };

    const error = await within(
      3_000,
      upstreamFailure(provider({ timeoutMs: 150 }).call(modelRequest())),
    );

    expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
    await within(2_000, upstream.abandoned);
  });
});

describe('AnthropicProvider cancellation', () => {
  it('rejects with the abort reason and closes the connection when aborted mid-stream', async () => {
    upstream.handler = (_request, response) => {
      startStream(response);
      response.write(sse({ type: 'message_start', message: { usage: { input_tokens: 3 } } }));
      response.write(sse({ type: 'content_block_start', index: 0, content_block: textBlock('') }));
      response.write(
        sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } }),
      );
    };
    const controller = new AbortController();
    const reason = new Error('cancelled by client');

    const error = await within(
      2_000,
      failure(
        provider().call(
          modelRequest({
            signal: controller.signal,
            // Abort once the stream is visibly under way.
            onDelta: () => controller.abort(reason),
          }),
        ),
      ),
    );

    expect(error).toBe(reason);
    await within(2_000, upstream.abandoned);
  });

  it('does not call the upstream when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by client'));

    await expect(
      provider().call(modelRequest({ signal: controller.signal, onDelta: () => {} })),
    ).rejects.toThrow('cancelled by client');
    expect(upstream.received).toHaveLength(0);
  });
});
