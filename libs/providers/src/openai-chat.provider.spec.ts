import type { ModelItem } from '@ratchet/core';
import { Agent } from 'undici';
import { OpenAIChatProvider, type OpenAIChatProviderOptions } from './openai-chat.provider';
import { freePort } from '../../../apps/dev/src/free-port';
import { type RecordedRequest, sendJson, TestUpstream } from './testing/upstream-server';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import { UpstreamError } from './provider';

// A real OpenAI-compatible upstream on 127.0.0.1: undici bypasses in-process HTTP mocks, and
// a real socket is the only way to see connections close on abort and timeout.

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});

beforeEach(() =>
  upstream.reset((_request, response) => sendJson(response, 200, completion({ content: 'ok' }))),
);

afterAll(() => upstream.close());

function completion(
  message: Record<string, unknown>,
  finishReason = 'stop',
  usage: Record<string, unknown> = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
): unknown {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: 'gpt-test',
    choices: [
      { index: 0, message: { role: 'assistant', ...message }, finish_reason: finishReason },
    ],
    usage,
  };
}

function provider(options: Partial<OpenAIChatProviderOptions> = {}): OpenAIChatProvider {
  return new OpenAIChatProvider({
    baseUrl: upstream.baseUrl,
    headers: {},
    timeoutMs: 5_000,
    ...options,
  });
}

function onlyRequest(): RecordedRequest {
  expect(upstream.received).toHaveLength(1);
  return upstream.received[0];
}

/** Matches a fresh id from newId. */
function newItemId(prefix: string): unknown {
  return expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{24}$`));
}

describe('OpenAIChatProvider encoding', () => {
  it('posts instructions as the first system message, with auth and configured headers', async () => {
    await provider({ apiKey: 'sk-test', headers: { 'OpenAI-Organization': 'org-1' } }).call(
      modelRequest({ instructions: 'Be brief.' }),
    );

    const request = onlyRequest();
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['openai-organization']).toBe('org-1');
    expect(request.body).toEqual({
      model: 'gpt-test',
      prompt_cache_key: expect.stringMatching(/^ratchet-[0-9a-f]{32}$/) as unknown,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
    });
  });

  it('sends no Authorization header without an api key', async () => {
    await provider().call(modelRequest());

    expect(onlyRequest().headers.authorization).toBeUndefined();
  });

  it('maps roles and parts, lifts function calls into the assistant turn and drops reasoning', async () => {
    const input: ModelItem[] = [
      {
        type: 'message',
        id: 'msg_1',
        role: 'developer',
        status: 'completed',
        content: [{ type: 'input_text', text: 'Use metric units.' }],
      },
      {
        type: 'message',
        id: 'msg_2',
        role: 'user',
        status: 'completed',
        content: [
          { type: 'input_text', text: 'Weather here?' },
          { type: 'input_image', image_url: 'https://img.test/a.png', detail: 'low' },
        ],
      },
      { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'thinking' }] },
      {
        type: 'message',
        id: 'msg_3',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }],
      },
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_a',
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: 'fc_2',
        call_id: 'call_b',
        name: 'get_time',
        arguments: '{}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_1',
        call_id: 'call_a',
        output: '{"temp":3}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_2',
        call_id: 'call_b',
        output: [
          { type: 'input_text', text: '12:00' },
          { type: 'input_text', text: ' UTC' },
        ],
        status: 'completed',
      },
      {
        type: 'function_call',
        id: 'fc_3',
        call_id: 'call_c',
        name: 'get_weather',
        arguments: '{"city":"Bergen"}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_3',
        call_id: 'call_c',
        output: 'rain',
        status: 'completed',
      },
      {
        type: 'message',
        id: 'msg_4',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'refusal', refusal: 'I cannot share that.' }],
      },
    ];

    await provider().call(modelRequest({ instructions: 'System rules.', input }));

    expect(onlyRequest().body).toEqual({
      model: 'gpt-test',
      prompt_cache_key: expect.stringMatching(/^ratchet-[0-9a-f]{32}$/) as unknown,
      messages: [
        { role: 'system', content: 'System rules.' },
        { role: 'system', content: 'Use metric units.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather here?' },
            { type: 'image_url', image_url: { url: 'https://img.test/a.png', detail: 'low' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '{"temp":3}' },
        { role: 'tool', tool_call_id: 'call_b', content: '12:00 UTC' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_c',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Bergen"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_c', content: 'rain' },
        { role: 'assistant', content: 'I cannot share that.' },
      ],
    });
  });

  it('sends tools, a named tool_choice, sampling limits and a json_schema response_format', async () => {
    await provider().call(
      modelRequest({
        tools: [
          {
            type: 'function',
            name: 'get_weather',
            description: 'Current weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
          { type: 'function', name: 'ping', description: null, parameters: null, strict: null },
        ],
        toolChoice: { type: 'function', name: 'get_weather' },
        parallelToolCalls: false,
        maxOutputTokens: 256,
        temperature: 0.2,
        topP: 0.9,
        textFormat: {
          type: 'json_schema',
          name: 'answer',
          description: 'The answer',
          schema: { type: 'object', properties: { a: { type: 'string' } } },
          strict: true,
        },
      }),
    );

    expect(onlyRequest().body).toEqual({
      model: 'gpt-test',
      prompt_cache_key: expect.stringMatching(/^ratchet-[0-9a-f]{32}$/) as unknown,
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
        },
        { type: 'function', function: { name: 'ping' } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      max_completion_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          description: 'The answer',
          schema: { type: 'object', properties: { a: { type: 'string' } } },
          strict: true,
        },
      },
    });
  });

  it.each(['none', 'auto', 'required'] as const)(
    'sends tool_choice %s as a string',
    async (choice) => {
      const ping = { type: 'function' as const, name: 'ping', description: null, parameters: null };
      await provider().call(
        modelRequest({ tools: [{ ...ping, strict: null }], toolChoice: choice }),
      );

      expect(onlyRequest().body).toMatchObject({ tool_choice: choice, parallel_tool_calls: true });
    },
  );

  it('sends json_object as response_format and nothing for plain text', async () => {
    await provider().call(modelRequest({ textFormat: { type: 'json_object' } }));
    await provider().call(modelRequest({ textFormat: { type: 'text' } }));

    const cacheKey = expect.stringMatching(/^ratchet-[0-9a-f]{32}$/) as unknown;
    expect(upstream.received.map((request) => request.body)).toEqual([
      {
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Hi' }],
        prompt_cache_key: cacheKey,
        response_format: { type: 'json_object' },
      },
      {
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Hi' }],
        prompt_cache_key: cacheKey,
      },
    ]);
  });

  it('rejects an image given only by file id without calling the upstream', async () => {
    const input: ModelItem[] = [
      {
        type: 'message',
        id: 'msg_1',
        role: 'user',
        status: 'completed',
        content: [{ type: 'input_image', file_id: 'file_1', detail: 'auto' }],
      },
    ];

    const error = await upstreamFailure(provider().call(modelRequest({ input })));

    expect(error).toMatchObject({ code: 'unsupported_input', retryable: false });
    expect(upstream.received).toHaveLength(0);
  });
});

describe('OpenAIChatProvider decoding', () => {
  it('decodes a text answer with usage, including cached and reasoning tokens', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        completion({ content: 'Hello there.' }, 'stop', {
          prompt_tokens: 120,
          completion_tokens: 30,
          total_tokens: 150,
          prompt_tokens_details: { cached_tokens: 64 },
          completion_tokens_details: { reasoning_tokens: 12 },
        }),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('stop');
    expect(result.output).toEqual([
      {
        type: 'message',
        id: newItemId('msg'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello there.', annotations: [], logprobs: [] }],
      },
    ]);
    expect(result.usage).toEqual({
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 64 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 12 },
      total_tokens: 150,
    });
  });

  it('decodes parallel tool calls after the message text, keeping the upstream call ids', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        completion(
          {
            content: 'Let me check.',
            tool_calls: [
              {
                id: 'call_x',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
              { id: 'call_y', type: 'function', function: { name: 'get_time', arguments: '' } },
            ],
          },
          'tool_calls',
        ),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      expect.objectContaining({ type: 'message', role: 'assistant' }),
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'call_x',
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: newItemId('fc'),
        call_id: 'call_y',
        name: 'get_time',
        arguments: '{}',
        status: 'completed',
      },
    ]);
  });

  it('decodes a turn that is only tool calls without an empty message', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        completion({
          content: null,
          tool_calls: [
            { id: 'call_z', type: 'function', function: { name: 'ping', arguments: '{}' } },
          ],
        }),
      );

    const result = await provider().call(modelRequest());

    // Reported as `stop` by some servers; the calls decide.
    expect(result.finishReason).toBe('tool_calls');
    expect(result.output.map((item) => item.type)).toEqual(['function_call']);
  });

  it('decodes a refusal into a refusal part', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, completion({ content: null, refusal: 'I cannot help with that.' }));

    const result = await provider().call(modelRequest());

    expect(result.output).toEqual([
      expect.objectContaining({
        type: 'message',
        content: [{ type: 'refusal', refusal: 'I cannot help with that.' }],
      }),
    ]);
  });

  it('puts reasoning_content first as a reasoning item', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, completion({ content: '42', reasoning_content: 'Six times seven.' }));

    const result = await provider().call(modelRequest());

    expect(result.output).toEqual([
      {
        type: 'reasoning',
        id: newItemId('rs'),
        summary: [],
        content: [{ type: 'reasoning_text', text: 'Six times seven.' }],
        status: 'completed',
      },
      expect.objectContaining({
        type: 'message',
        content: [expect.objectContaining({ type: 'output_text', text: '42' })],
      }),
    ]);
  });

  it.each([
    ['stop', 'stop', 'completed'],
    ['length', 'length', 'incomplete'],
    ['content_filter', 'content_filter', 'completed'],
    ['function_call', 'tool_calls', 'completed'],
  ] as const)('maps finish_reason %s to %s', async (finishReason, expected, messageStatus) => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, completion({ content: 'x' }, finishReason));

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe(expected);
    expect(result.output[0]).toMatchObject({ type: 'message', status: messageStatus });
  });

  it('reports zero usage when the upstream sends none', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, {
        choices: [{ message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      });

    const result = await provider().call(modelRequest());

    expect(result.usage).toEqual({
      input_tokens: 0,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 0,
    });
  });
});

describe('OpenAIChatProvider errors', () => {
  function openAIError(message: string, code: string | null = null): unknown {
    return { error: { message, type: 'server_error', param: null, code } };
  }

  it('turns a 500 into a retryable error with the upstream message and status', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 500, openAIError('The server had an error.'));

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      message: 'The server had an error.',
      code: 'upstream_error',
      status: 500,
      retryable: true,
      retryAfterMs: null,
    });
  });

  it('reads Retry-After seconds on a 429', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 429, openAIError('Rate limit reached.', 'rate_limit_exceeded'), {
        'retry-after': '7',
      });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      message: 'Rate limit reached.',
      code: 'rate_limit_exceeded',
      status: 429,
      retryable: true,
      retryAfterMs: 7_000,
    });
  });

  it('reads Retry-After as an HTTP date on a 429', async () => {
    const retryAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 30_000);
    upstream.handler = (_request, response) =>
      sendJson(response, 429, openAIError('Slow down.'), { 'retry-after': retryAt.toUTCString() });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(31_000);
  });

  it('does not retry a 429 for an exhausted quota', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        429,
        openAIError('You exceeded your current quota.', 'insufficient_quota'),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'insufficient_quota', status: 429, retryable: false });
  });

  it('recognises a 400 about the context length', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        400,
        openAIError(
          "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        ),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'context_length_exceeded', status: 400, retryable: false });
  });

  it('classifies a 401 with a non-JSON body as an auth error', async () => {
    upstream.handler = (_request, response) => {
      response.writeHead(401, { 'content-type': 'text/html' });
      response.end('<html>Unauthorized</html>');
    };

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      message: 'The upstream model answered HTTP 401.',
      code: 'upstream_auth_error',
      status: 401,
      retryable: false,
    });
  });

  it('keeps its credentials out of an error message that echoes them', async () => {
    upstream.handler = (request, response) =>
      sendJson(
        response,
        401,
        openAIError(
          `Incorrect API key provided: ${String(request.headers.authorization)}; x-api-key ${String(request.headers['x-api-key'])}.`,
          'invalid_api_key',
        ),
      );
    const secretful = provider({
      apiKey: 'sk-upstream-0123456789',
      headers: { 'X-Api-Key': 'xk-987654321' },
    });

    for (const call of [
      secretful.call(modelRequest()),
      secretful.call({ ...modelRequest(), onDelta: () => undefined }),
    ]) {
      const error = await upstreamFailure(call);
      expect(error.message).toBe('Incorrect API key provided: [redacted]; x-api-key [redacted].');
    }
  });

  it('rejects a 2xx body that is not JSON', async () => {
    upstream.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"choices": [');
    };

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
  });

  it('rejects a 2xx body without choices', async () => {
    upstream.handler = (_request, response) => sendJson(response, 200, { id: 'x', choices: [] });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
  });

  it('reports a refused connection as a retryable unreachable upstream', async () => {
    const port = await freePort();

    const error = await upstreamFailure(
      provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).call(modelRequest()),
    );

    expect(error).toMatchObject({ code: 'upstream_unreachable', retryable: true, status: null });
    expect(error.message).toContain('ECONNREFUSED');
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

  it('reads error bodies to the end so a one-connection pool keeps working', async () => {
    const dispatcher = new Agent({ connections: 1 });
    upstream.handler = (_request, response) => sendJson(response, 503, openAIError('Overloaded.'));
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const error = await within(
          2_000,
          upstreamFailure(provider({ dispatcher }).call(modelRequest())),
        );
        expect(error).toMatchObject({ status: 503, retryable: true });
      }
      expect(upstream.received).toHaveLength(3);
    } finally {
      await dispatcher.close();
    }
  });
});

describe('OpenAIChatProvider cancellation', () => {
  it('rejects with the abort reason and closes the connection when the signal aborts', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    upstream.handler = () => arrived();
    const controller = new AbortController();

    const call = provider().call(modelRequest({ signal: controller.signal }));
    const outcome = call.then(
      () => null,
      (error: unknown) => error,
    );
    await within(2_000, requestArrived);
    controller.abort();

    const error = await within(2_000, outcome);
    expect(error).not.toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ name: 'AbortError' });
    await within(2_000, upstream.abandoned);
  });

  it('does not call the upstream when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by client'));

    await expect(provider().call(modelRequest({ signal: controller.signal }))).rejects.toThrow(
      'cancelled by client',
    );
    expect(upstream.received).toHaveLength(0);
  });
});
