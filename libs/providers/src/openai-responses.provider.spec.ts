import type { ModelItem } from '@ratchet/core';
import {
  OpenAIResponsesProvider,
  type OpenAIResponsesProviderOptions,
} from './openai-responses.provider';
import { sendJson, TestUpstream } from './testing/upstream-server';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import { UpstreamError } from './provider';

// A real Responses API upstream on 127.0.0.1: undici bypasses in-process HTTP mocks, and a
// real socket is the only way to see the connection close on abort.

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});

beforeEach(() =>
  upstream.reset((_request, response) =>
    sendJson(response, 200, responseBody([textMessage('ok')])),
  ),
);

afterAll(() => upstream.close());

function responseBody(
  output: unknown[],
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'resp_1',
    object: 'response',
    created_at: 1741476777,
    status: 'completed',
    incomplete_details: null,
    error: null,
    model: 'gpt-test',
    output,
    usage: {
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 15,
    },
    ...overrides,
  };
}

function textMessage(text: string, status = 'completed'): Record<string, unknown> {
  return {
    type: 'message',
    id: 'msg_upstream',
    status,
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

function functionCall(callId: string, name: string, args: string): Record<string, unknown> {
  return {
    type: 'function_call',
    id: `fc_upstream_${callId}`,
    call_id: callId,
    name,
    arguments: args,
    status: 'completed',
  };
}

function openAIError(message: string, code: string | null = null): unknown {
  return { error: { message, type: 'server_error', param: null, code } };
}

function provider(options: Partial<OpenAIResponsesProviderOptions> = {}): OpenAIResponsesProvider {
  return new OpenAIResponsesProvider({
    baseUrl: upstream.baseUrl,
    headers: {},
    timeoutMs: 5_000,
    ...options,
  });
}

/** Matches a fresh id from newId, never the upstream's own. */
function freshId(prefix: string): unknown {
  return expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{24}$`));
}

describe('OpenAIResponsesProvider requests', () => {
  it('posts to /responses with auth, configured headers and store false', async () => {
    await provider({ apiKey: 'sk-test', headers: { 'X-Team': 'a' } }).call(
      modelRequest({ instructions: 'Be brief.' }),
    );

    expect(upstream.received).toHaveLength(1);
    const [request] = upstream.received;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/responses');
    expect(request.headers.authorization).toBe('Bearer sk-test');
    expect(request.headers['x-team']).toBe('a');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toEqual({
      model: 'gpt-test',
      instructions: 'Be brief.',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
      store: false,
      stream: false,
    });
  });

  it('sends no Authorization header without an api key', async () => {
    await provider().call(modelRequest());
    expect(upstream.received[0].headers.authorization).toBeUndefined();
  });

  it('sends the conversation as Responses items without ratchet ids and statuses', async () => {
    const input: ModelItem[] = [
      {
        type: 'message',
        id: 'msg_s',
        role: 'developer',
        status: 'completed',
        content: [{ type: 'input_text', text: 'Use tools.' }],
      },
      {
        type: 'message',
        id: 'msg_u',
        role: 'user',
        status: 'completed',
        content: [
          { type: 'input_text', text: 'Weather?' },
          { type: 'input_image', image_url: 'https://x/img.png', file_id: null, detail: 'low' },
          { type: 'input_file', file_id: null, file_data: 'ZGF0YQ==', filename: 'a.txt' },
        ],
      },
      {
        type: 'reasoning',
        id: 'rs_plain',
        summary: [],
        content: [{ type: 'reasoning_text', text: 'from another provider' }],
        status: 'completed',
      },
      {
        type: 'reasoning',
        id: 'rs_enc',
        summary: [{ type: 'summary_text', text: 'Thought.' }],
        encrypted_content: 'opaque',
        status: 'completed',
      },
      {
        type: 'message',
        id: 'msg_a',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }],
      },
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: 'fc_2',
        call_id: 'call_2',
        name: 'weather',
        arguments: '{"city":"Rome"}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_1',
        call_id: 'call_1',
        output: 'sunny',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_2',
        call_id: 'call_2',
        output: [{ type: 'input_text', text: 'rainy' }],
        status: 'completed',
      },
    ];

    await provider().call(modelRequest({ input }));

    expect((upstream.received[0].body as { input: unknown }).input).toEqual([
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Use tools.' }] },
      {
        type: 'message',
        role: 'user',
        content: [
          { type: 'input_text', text: 'Weather?' },
          { type: 'input_image', image_url: 'https://x/img.png', detail: 'low' },
          { type: 'input_file', file_data: 'ZGF0YQ==', filename: 'a.txt' },
        ],
      },
      {
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: 'Thought.' }],
        encrypted_content: 'opaque',
      },
      {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Checking.' }],
      },
      { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call', call_id: 'call_2', name: 'weather', arguments: '{"city":"Rome"}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      {
        type: 'function_call_output',
        call_id: 'call_2',
        output: [{ type: 'input_text', text: 'rainy' }],
      },
    ]);
  });

  it('sends tools, a named tool_choice, sampling limits and a json_schema text format', async () => {
    await provider().call(
      modelRequest({
        tools: [
          {
            type: 'function',
            name: 'weather',
            description: 'Weather for a city.',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            strict: true,
          },
          { type: 'function', name: 'now', description: null, parameters: null, strict: null },
        ],
        toolChoice: { type: 'function', name: 'weather' },
        parallelToolCalls: false,
        maxOutputTokens: 256,
        temperature: 0.2,
        topP: 0.9,
        textFormat: {
          type: 'json_schema',
          name: 'answer',
          schema: { type: 'object' },
          description: 'The answer.',
          strict: true,
        },
      }),
    );

    expect(upstream.received[0].body).toEqual({
      model: 'gpt-test',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
      tools: [
        {
          type: 'function',
          name: 'weather',
          description: 'Weather for a city.',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          strict: true,
        },
        { type: 'function', name: 'now' },
      ],
      tool_choice: { type: 'function', name: 'weather' },
      parallel_tool_calls: false,
      max_output_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      text: {
        format: {
          type: 'json_schema',
          name: 'answer',
          schema: { type: 'object' },
          description: 'The answer.',
          strict: true,
        },
      },
      store: false,
      stream: false,
    });
  });

  it('sends json_object as the text format, nothing for plain text, and required as is', async () => {
    const tools = [
      { type: 'function' as const, name: 'f', description: null, parameters: null, strict: null },
    ];
    await provider().call(
      modelRequest({ textFormat: { type: 'json_object' }, tools, toolChoice: 'required' }),
    );
    await provider().call(modelRequest({ textFormat: { type: 'text' } }));

    expect(upstream.received[0].body).toMatchObject({
      text: { format: { type: 'json_object' } },
      tool_choice: 'required',
      parallel_tool_calls: true,
    });
    expect(upstream.received[1].body).not.toHaveProperty('text');
    expect(upstream.received[1].body).not.toHaveProperty('tool_choice');
  });
});

describe('OpenAIResponsesProvider responses', () => {
  it('decodes a text answer with usage, giving it a fresh id', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([textMessage('Hello!')], {
          usage: {
            input_tokens: 100,
            input_tokens_details: { cached_tokens: 40 },
            output_tokens: 30,
            output_tokens_details: { reasoning_tokens: 12 },
            total_tokens: 130,
          },
        }),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('stop');
    expect(result.output).toEqual([
      {
        type: 'message',
        id: freshId('msg'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Hello!', annotations: [], logprobs: [] }],
      },
    ]);
    expect(result.output[0].id).not.toBe('msg_upstream');
    expect(result.usage).toEqual({
      input_tokens: 100,
      input_tokens_details: { cached_tokens: 40 },
      output_tokens: 30,
      output_tokens_details: { reasoning_tokens: 12 },
      total_tokens: 130,
    });
  });

  it('decodes parallel function calls, keeping call ids, as a tool_calls turn', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([
          functionCall('call_a', 'weather', '{"city":"Paris"}'),
          functionCall('call_b', 'weather', '{"city":"Rome"}'),
        ]),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      {
        type: 'function_call',
        id: freshId('fc'),
        call_id: 'call_a',
        name: 'weather',
        arguments: '{"city":"Paris"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: freshId('fc'),
        call_id: 'call_b',
        name: 'weather',
        arguments: '{"city":"Rome"}',
        status: 'completed',
      },
    ]);
    expect(result.output[0].id).not.toBe('fc_upstream_call_a');
    expect(result.output[0].id).not.toBe(result.output[1].id);
  });

  it('decodes reasoning summary, content and encrypted content, and a refusal', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([
          {
            type: 'reasoning',
            id: 'rs_upstream',
            summary: [{ type: 'summary_text', text: 'Considered it.' }],
            content: [
              { type: 'reasoning_text', text: 'Step one. ' },
              { type: 'reasoning_text', text: 'Step two.' },
            ],
            encrypted_content: 'opaque',
          },
          { type: 'reasoning', id: 'rs_bare', summary: [] },
          {
            type: 'message',
            id: 'msg_r',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'refusal', refusal: 'I cannot help with that.' }],
          },
          { type: 'web_search_call', id: 'ws_1', status: 'completed' },
        ]),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('stop');
    expect(result.output).toEqual([
      {
        type: 'reasoning',
        id: freshId('rs'),
        summary: [{ type: 'summary_text', text: 'Considered it.' }],
        content: [{ type: 'reasoning_text', text: 'Step one. Step two.' }],
        encrypted_content: 'opaque',
        status: 'completed',
      },
      {
        type: 'reasoning',
        id: freshId('rs'),
        summary: [],
        status: 'completed',
      },
      {
        type: 'message',
        id: freshId('msg'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'refusal', refusal: 'I cannot help with that.' }],
      },
    ]);
    expect(result.output[0].id).not.toBe('rs_upstream');
  });

  it('maps an incomplete response cut by max_output_tokens to length', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([textMessage('Partial', 'incomplete')], {
          status: 'incomplete',
          incomplete_details: { reason: 'max_output_tokens' },
        }),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('length');
    expect(result.output).toMatchObject([{ type: 'message', status: 'incomplete' }]);
  });

  it('maps an incomplete response stopped by the content filter to content_filter', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([], {
          status: 'incomplete',
          incomplete_details: { reason: 'content_filter' },
        }),
      );

    const result = await provider().call(modelRequest());

    expect(result.finishReason).toBe('content_filter');
  });

  it('reports zero usage when the upstream sends none', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, responseBody([textMessage('x')], { usage: null }));

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

describe('OpenAIResponsesProvider errors', () => {
  it('turns a failed response into an UpstreamError with the upstream code', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([], {
          status: 'failed',
          error: { code: 'server_error', message: 'Something broke.' },
        }),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      code: 'server_error',
      message: 'Something broke.',
      retryable: true,
    });
  });

  it('does not retry a failed response for a bad prompt', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        200,
        responseBody([], {
          status: 'failed',
          error: { code: 'invalid_prompt', message: 'Refused prompt.' },
        }),
      );

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'invalid_prompt', retryable: false });
  });

  it('reads the error envelope and Retry-After on a 429', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 429, openAIError('Slow down.', 'rate_limit_exceeded'), {
        'retry-after': '7',
      });

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      code: 'rate_limit_exceeded',
      status: 429,
      retryable: true,
      retryAfterMs: 7_000,
      message: 'Slow down.',
    });
  });

  it('turns a 500 into a retryable error with the upstream message', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 500, openAIError('Internal trouble.'));

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({
      code: 'upstream_error',
      status: 500,
      retryable: true,
      message: 'Internal trouble.',
    });
  });

  it('rejects a 2xx body that is not JSON', async () => {
    upstream.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html>gateway</html>');
    };

    const error = await upstreamFailure(provider().call(modelRequest()));

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
  });

  it('rejects a 2xx body that is not a Response object', async () => {
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

describe('OpenAIResponsesProvider cancellation', () => {
  it('rejects with the abort reason and closes the connection when the signal aborts', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    upstream.handler = () => arrived();
    const controller = new AbortController();

    const outcome = provider()
      .call(modelRequest({ signal: controller.signal }))
      .then(
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
