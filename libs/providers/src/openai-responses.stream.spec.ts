import type { ModelItem } from '@ratchet/core';
import { OpenAIResponsesProvider } from './openai-responses.provider';
import type { ModelCallRequest, ModelDelta } from './provider';
import { UpstreamError } from './provider';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import {
  sendJson,
  serveEventStream,
  startEventStream,
  TestUpstream,
} from './testing/upstream-server';

// A real Responses API upstream on 127.0.0.1 streaming transcripts shaped as OpenAI's are
// (`event:` and `data:` lines, sequence numbers, every lifecycle event), written in pieces so
// the provider sees chunk boundaries inside events, and real sockets that close on abort.

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});

beforeEach(() => upstream.reset());

afterAll(() => upstream.close());

type Fields = Record<string, unknown>;

/** Events as OpenAI writes them: the type as the SSE event name and in the data, numbered. */
function transcript(events: readonly [string, Fields][]): string {
  return events
    .map(([type, fields], sequence) => {
      const data = JSON.stringify({ type, sequence_number: sequence, ...fields });
      return `event: ${type}\ndata: ${data}\n\n`;
    })
    .join('');
}

const USAGE = {
  input_tokens: 36,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 87,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 123,
};

function responseObject(status: string, output: unknown[], overrides: Fields = {}): Fields {
  return {
    id: 'resp_upstream',
    object: 'response',
    created_at: 1741476777,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-test',
    output,
    parallel_tool_calls: true,
    store: false,
    usage: status === 'in_progress' ? null : USAGE,
    ...overrides,
  };
}

/** `response.created` and `response.in_progress`, which open every stream. */
function opening(): [string, Fields][] {
  const response = responseObject('in_progress', []);
  return [
    ['response.created', { response }],
    ['response.in_progress', { response }],
  ];
}

function message(id: string, content: unknown[], status = 'completed'): Fields {
  return { id, type: 'message', status, role: 'assistant', content };
}

function outputText(text: string): Fields {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** A message streamed as OpenAI streams one: item, part, text deltas, and their `.done`s. */
function textMessageEvents(
  id: string,
  outputIndex: number,
  pieces: readonly string[],
  status = 'completed',
): [string, Fields][] {
  const text = pieces.join('');
  const at = { item_id: id, output_index: outputIndex, content_index: 0 };
  return [
    [
      'response.output_item.added',
      { output_index: outputIndex, item: message(id, [], 'in_progress') },
    ],
    ['response.content_part.added', { ...at, part: outputText('') }],
    ...pieces.map((delta): [string, Fields] => [
      'response.output_text.delta',
      { ...at, delta, logprobs: [] },
    ]),
    ['response.output_text.done', { ...at, text, logprobs: [] }],
    ['response.content_part.done', { ...at, part: outputText(text) }],
    [
      'response.output_item.done',
      { output_index: outputIndex, item: message(id, [outputText(text)], status) },
    ],
  ];
}

function functionCall(id: string, callId: string, name: string, args: string): Fields {
  return { id, type: 'function_call', status: 'completed', arguments: args, call_id: callId, name };
}

function streamingRequest(
  deltas: ModelDelta[],
  overrides: Partial<ModelCallRequest> = {},
): ModelCallRequest {
  return modelRequest({ onDelta: (delta) => deltas.push(delta), ...overrides });
}

function provider(timeoutMs = 5_000): OpenAIResponsesProvider {
  return new OpenAIResponsesProvider({ baseUrl: upstream.baseUrl, headers: {}, timeoutMs });
}

/** Matches a fresh id from newId, never the upstream's own. */
function freshId(prefix: string): unknown {
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

function joined(deltas: readonly ModelDelta[], type: ModelDelta['type'], itemId?: string): string {
  return deltas
    .filter((delta) => delta.type === type && (itemId === undefined || delta.itemId === itemId))
    .map((delta) => delta.delta)
    .join('');
}

/** Items with their ids (fresh on every call) taken out, to compare two calls' output. */
function withoutIds(output: readonly ModelItem[]): unknown[] {
  return output.map((item) => ({ ...item, id: '<id>' }));
}

const TEXT_PIECES = ['Hel', 'lo', ', ', 'wor', 'ld', '! ☀'];

const TEXT_TRANSCRIPT = transcript([
  ...opening(),
  ...textMessageEvents('msg_upstream', 0, TEXT_PIECES),
  [
    'response.completed',
    {
      response: responseObject('completed', [
        message('msg_upstream', [outputText('Hello, world! ☀')]),
      ]),
    },
  ],
]);

describe('OpenAIResponsesProvider streaming requests', () => {
  it('sends stream: true only to a caller that listens for deltas, the body otherwise alike', async () => {
    upstream.handler = (request, response) => {
      if ((request.body as { stream?: boolean }).stream) {
        serveEventStream(TEXT_TRANSCRIPT)(request, response);
      } else {
        sendJson(response, 200, responseObject('completed', [message('m', [outputText('ok')])]));
      }
    };
    const request = {
      instructions: 'Be brief.',
      maxOutputTokens: 64,
      tools: [
        {
          type: 'function' as const,
          name: 'get_weather',
          description: 'Weather for a city.',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
          strict: null,
        },
      ],
    };

    await provider().call(modelRequest(request));
    await provider().call(streamingRequest([], request));

    const expected = {
      model: 'gpt-test',
      instructions: 'Be brief.',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }],
      tools: [
        {
          type: 'function',
          name: 'get_weather',
          description: 'Weather for a city.',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      ],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      max_output_tokens: 64,
      store: false,
    };
    expect(upstream.bodies).toEqual([
      { ...expected, stream: false },
      { ...expected, stream: true },
    ]);
    expect(upstream.received.map((request) => request.headers.accept)).toEqual([
      'application/json',
      'text/event-stream',
    ]);
    expect(upstream.received[1].url).toBe('/v1/responses');
  });
});

describe('OpenAIResponsesProvider streaming', () => {
  it('reports text deltas in order, split inside events, under the result item id', async () => {
    upstream.handler = serveEventStream(TEXT_TRANSCRIPT, { size: 23 });
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    const itemId = result.output[0]?.id;
    expect(itemId).toEqual(freshId('msg'));
    expect(deltas).toEqual(TEXT_PIECES.map((delta) => ({ type: 'text', itemId, delta })));
    expect(result).toEqual({
      output: [
        {
          type: 'message',
          id: itemId,
          role: 'assistant',
          status: 'completed',
          content: [outputText('Hello, world! ☀')],
        },
      ],
      usage: USAGE,
      finishReason: 'stop',
    });
  });

  it('gives the same result as the non-streaming call for the same Response', async () => {
    const final = responseObject('completed', [
      {
        id: 'rs_upstream',
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: 'Weather, then time.' }],
        encrypted_content: 'opaque',
      },
      message('msg_upstream', [outputText('Checking.')]),
      functionCall('fc_upstream', 'call_a', 'get_weather', '{"city":"Oslo"}'),
      { id: 'ws_upstream', type: 'web_search_call', status: 'completed' },
    ]);
    const streamed = transcript([
      ...opening(),
      [
        'response.output_item.added',
        { output_index: 0, item: { id: 'rs_upstream', type: 'reasoning', summary: [] } },
      ],
      [
        'response.reasoning_summary_text.delta',
        { item_id: 'rs_upstream', output_index: 0, summary_index: 0, delta: 'Weather, then time.' },
      ],
      ...textMessageEvents('msg_upstream', 1, ['Checking.']),
      [
        'response.output_item.added',
        {
          output_index: 2,
          item: {
            ...functionCall('fc_upstream', 'call_a', 'get_weather', ''),
            status: 'in_progress',
          },
        },
      ],
      [
        'response.function_call_arguments.delta',
        { item_id: 'fc_upstream', output_index: 2, delta: '{"city":"Oslo"}' },
      ],
      [
        'response.output_item.added',
        {
          output_index: 3,
          item: { id: 'ws_upstream', type: 'web_search_call', status: 'in_progress' },
        },
      ],
      ['response.web_search_call.completed', { item_id: 'ws_upstream', output_index: 3 }],
      ['response.completed', { response: final }],
    ]);
    upstream.handler = (request, response) => {
      if ((request.body as { stream: boolean }).stream)
        serveEventStream(streamed)(request, response);
      else sendJson(response, 200, final);
    };
    const deltas: ModelDelta[] = [];

    const plain = await provider().call(modelRequest());
    const stream = await provider().call(streamingRequest(deltas));

    expect(withoutIds(stream.output)).toEqual(withoutIds(plain.output));
    expect({ ...stream, output: null }).toEqual({ ...plain, output: null });
    expect(stream.finishReason).toBe('tool_calls');
    const [reasoning, text, call] = stream.output;
    expect(deltas).toEqual([
      { type: 'reasoning', itemId: reasoning?.id, delta: 'Weather, then time.' },
      { type: 'text', itemId: text?.id, delta: 'Checking.' },
      {
        type: 'arguments',
        itemId: call?.id,
        callId: 'call_a',
        name: 'get_weather',
        delta: '{"city":"Oslo"}',
      },
    ]);
  });

  it('assembles parallel function calls from interleaved, fragmented arguments', async () => {
    const added = (index: number, id: string, callId: string, name: string): [string, Fields] => [
      'response.output_item.added',
      {
        output_index: index,
        item: { ...functionCall(id, callId, name, ''), status: 'in_progress' },
      },
    ];
    const args = (index: number, id: string, delta: string): [string, Fields] => [
      'response.function_call_arguments.delta',
      { item_id: id, output_index: index, delta },
    ];
    const done = (
      index: number,
      id: string,
      callId: string,
      name: string,
      full: string,
    ): [string, Fields][] => [
      [
        'response.function_call_arguments.done',
        { item_id: id, output_index: index, name, arguments: full },
      ],
      [
        'response.output_item.done',
        { output_index: index, item: functionCall(id, callId, name, full) },
      ],
    ];
    upstream.handler = serveEventStream(
      transcript([
        ...opening(),
        added(0, 'fc_up_1', 'call_a', 'get_weather'),
        args(0, 'fc_up_1', '{"ci'),
        added(1, 'fc_up_2', 'call_b', 'get_time'),
        args(1, 'fc_up_2', '{"t'),
        args(0, 'fc_up_1', 'ty":"Os'),
        args(1, 'fc_up_2', 'z":"UTC"}'),
        args(0, 'fc_up_1', 'lo"}'),
        ...done(0, 'fc_up_1', 'call_a', 'get_weather', '{"city":"Oslo"}'),
        ...done(1, 'fc_up_2', 'call_b', 'get_time', '{"tz":"UTC"}'),
        [
          'response.completed',
          {
            response: responseObject('completed', [
              functionCall('fc_up_1', 'call_a', 'get_weather', '{"city":"Oslo"}'),
              functionCall('fc_up_2', 'call_b', 'get_time', '{"tz":"UTC"}'),
            ]),
          },
        ],
      ]),
      { size: 29 },
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      {
        type: 'function_call',
        id: freshId('fc'),
        call_id: 'call_a',
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
        status: 'completed',
      },
      {
        type: 'function_call',
        id: freshId('fc'),
        call_id: 'call_b',
        name: 'get_time',
        arguments: '{"tz":"UTC"}',
        status: 'completed',
      },
    ]);
    const [first, second] = result.output;
    expect(first?.id).not.toBe(second?.id);
    expect(joined(deltas, 'arguments', first?.id)).toBe('{"city":"Oslo"}');
    expect(joined(deltas, 'arguments', second?.id)).toBe('{"tz":"UTC"}');
    expect(deltas.map((delta) => [delta.itemId, delta.delta])).toEqual([
      [first?.id, '{"ci'],
      [second?.id, '{"t'],
      [first?.id, 'ty":"Os'],
      [second?.id, 'z":"UTC"}'],
      [first?.id, 'lo"}'],
    ]);
    expect(deltas).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ itemId: first?.id, callId: 'call_a', name: 'get_weather' }),
        expect.objectContaining({ itemId: second?.id, callId: 'call_b', name: 'get_time' }),
      ]),
    );
    expect(deltas.every((delta) => delta.type === 'arguments')).toBe(true);
  });

  it('streams reasoning summary and text as reasoning, before the answer', async () => {
    const reasoning = {
      id: 'rs_upstream',
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'Multiply.' }],
      content: [{ type: 'reasoning_text', text: 'Six times seven is 42.' }],
      encrypted_content: 'gAAAA-opaque',
    };
    const at = { item_id: 'rs_upstream', output_index: 0 };
    upstream.handler = serveEventStream(
      transcript([
        ...opening(),
        [
          'response.output_item.added',
          { output_index: 0, item: { id: 'rs_upstream', type: 'reasoning', summary: [] } },
        ],
        [
          'response.reasoning_summary_part.added',
          { ...at, summary_index: 0, part: { type: 'summary_text', text: '' } },
        ],
        ['response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta: 'Multi' }],
        ['response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta: 'ply.' }],
        ['response.reasoning_summary_text.done', { ...at, summary_index: 0, text: 'Multiply.' }],
        ['response.reasoning_text.delta', { ...at, content_index: 0, delta: 'Six times seven ' }],
        ['response.reasoning_text.delta', { ...at, content_index: 0, delta: 'is 42.' }],
        [
          'response.reasoning_text.done',
          { ...at, content_index: 0, text: 'Six times seven is 42.' },
        ],
        ['response.output_item.done', { output_index: 0, item: reasoning }],
        ...textMessageEvents('msg_upstream', 1, ['42']),
        [
          'response.completed',
          {
            response: responseObject(
              'completed',
              [reasoning, message('msg_upstream', [outputText('42')])],
              { usage: { ...USAGE, output_tokens_details: { reasoning_tokens: 64 } } },
            ),
          },
        ],
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    const [item, answer] = result.output;
    expect(item).toEqual({
      type: 'reasoning',
      id: freshId('rs'),
      summary: [{ type: 'summary_text', text: 'Multiply.' }],
      content: [{ type: 'reasoning_text', text: 'Six times seven is 42.' }],
      encrypted_content: 'gAAAA-opaque',
      status: 'completed',
    });
    expect(answer).toMatchObject({ type: 'message', id: freshId('msg') });
    expect(deltas).toEqual([
      { type: 'reasoning', itemId: item?.id, delta: 'Multi' },
      { type: 'reasoning', itemId: item?.id, delta: 'ply.' },
      { type: 'reasoning', itemId: item?.id, delta: 'Six times seven ' },
      { type: 'reasoning', itemId: item?.id, delta: 'is 42.' },
      { type: 'text', itemId: answer?.id, delta: '42' },
    ]);
    expect(result.usage.output_tokens_details.reasoning_tokens).toBe(64);
  });

  it('reads response.reasoning.delta, the name some compatible servers use', async () => {
    const reasoning = {
      id: 'rs_1',
      type: 'reasoning',
      summary: [],
      content: [{ type: 'reasoning_text', text: 'Hmm.' }],
    };
    upstream.handler = serveEventStream(
      transcript([
        [
          'response.output_item.added',
          { output_index: 0, item: { id: 'rs_1', type: 'reasoning' } },
        ],
        ['response.reasoning.delta', { item_id: 'rs_1', output_index: 0, delta: 'Hmm.' }],
        ['response.completed', { response: responseObject('completed', [reasoning]) }],
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(deltas).toEqual([{ type: 'reasoning', itemId: result.output[0]?.id, delta: 'Hmm.' }]);
  });

  it('streams a refusal into a refusal part', async () => {
    const at = { item_id: 'msg_upstream', output_index: 0, content_index: 0 };
    const refusal = { type: 'refusal', refusal: 'I cannot help with that.' };
    upstream.handler = serveEventStream(
      transcript([
        ...opening(),
        [
          'response.output_item.added',
          { output_index: 0, item: message('msg_upstream', [], 'in_progress') },
        ],
        ['response.content_part.added', { ...at, part: { type: 'refusal', refusal: '' } }],
        ['response.refusal.delta', { ...at, delta: 'I cannot ' }],
        ['response.refusal.delta', { ...at, delta: 'help with that.' }],
        ['response.refusal.done', { ...at, refusal: refusal.refusal }],
        ['response.content_part.done', { ...at, part: refusal }],
        [
          'response.output_item.done',
          { output_index: 0, item: message('msg_upstream', [refusal]) },
        ],
        [
          'response.completed',
          { response: responseObject('completed', [message('msg_upstream', [refusal])]) },
        ],
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      {
        type: 'message',
        id: freshId('msg'),
        role: 'assistant',
        status: 'completed',
        content: [refusal],
      },
    ]);
    expect(deltas).toEqual([
      { type: 'refusal', itemId: result.output[0]?.id, delta: 'I cannot ' },
      { type: 'refusal', itemId: result.output[0]?.id, delta: 'help with that.' },
    ]);
  });

  it.each([
    ['max_output_tokens', 'length'],
    ['content_filter', 'content_filter'],
  ] as const)(
    'ends with response.incomplete (%s) as finish reason %s, the item incomplete',
    async (reason, finishReason) => {
      const pieces = ['Once ', 'upon ', 'a'];
      upstream.handler = serveEventStream(
        transcript([
          ...opening(),
          ...textMessageEvents('msg_upstream', 0, pieces, 'incomplete'),
          [
            'response.incomplete',
            {
              response: responseObject(
                'incomplete',
                [message('msg_upstream', [outputText('Once upon a')], 'incomplete')],
                { incomplete_details: { reason } },
              ),
            },
          ],
        ]),
      );
      const deltas: ModelDelta[] = [];

      const result = await provider().call(streamingRequest(deltas, { maxOutputTokens: 3 }));

      expect(result.finishReason).toBe(finishReason);
      expect(result.output).toEqual([
        expect.objectContaining({
          type: 'message',
          id: deltas[0]?.itemId,
          status: 'incomplete',
          content: [outputText('Once upon a')],
        }),
      ]);
      expect(joined(deltas, 'text')).toBe('Once upon a');
    },
  );

  it('keeps a call id the upstream left out the same in deltas and result', async () => {
    const call = { id: 'fc_1', type: 'function_call', name: 'now', arguments: '' };
    upstream.handler = serveEventStream(
      transcript([
        ['response.output_item.added', { output_index: 0, item: call }],
        [
          'response.function_call_arguments.delta',
          { item_id: 'fc_1', output_index: 0, delta: '{}' },
        ],
        [
          'response.completed',
          { response: responseObject('completed', [{ ...call, arguments: '{}' }]) },
        ],
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      expect.objectContaining({ type: 'function_call', call_id: freshId('call'), arguments: '{}' }),
    ]);
    const [item] = result.output;
    expect(deltas).toEqual([
      {
        type: 'arguments',
        itemId: item?.id,
        callId: (item as { call_id: string }).call_id,
        name: 'now',
        delta: '{}',
      },
    ]);
  });

  it('takes the items of output_item.done when the terminal Response leaves output out', async () => {
    upstream.handler = serveEventStream(
      transcript([
        ...textMessageEvents('msg_upstream', 0, ['Sl', 'im']),
        ['response.completed', { response: responseObject('completed', []) }],
      ]),
    );
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      expect.objectContaining({ id: deltas[0]?.itemId, content: [outputText('Slim')] }),
    ]);
  });
});

describe('OpenAIResponsesProvider streaming fallbacks', () => {
  it('decodes a whole JSON Response from a server that cannot stream, without deltas', async () => {
    upstream.handler = (_request, response) =>
      sendJson(response, 200, responseObject('completed', [message('m', [outputText('Whole.')])]));
    const deltas: ModelDelta[] = [];

    const result = await provider().call(streamingRequest(deltas));

    expect(result.output).toEqual([
      expect.objectContaining({ type: 'message', content: [outputText('Whole.')] }),
    ]);
    expect(deltas).toEqual([]);
    expect(upstream.bodies).toEqual([expect.objectContaining({ stream: true })]);
  });
});

describe('OpenAIResponsesProvider streaming failures', () => {
  it.each([
    ['rate_limit_exceeded', true],
    ['server_error', true],
    ['invalid_prompt', false],
  ])(
    'turns response.failed (%s) into its UpstreamError, retryable: %s',
    async (code, retryable) => {
      upstream.handler = serveEventStream(
        transcript([
          ...opening(),
          ...textMessageEvents('msg_upstream', 0, ['Hi']),
          [
            'response.failed',
            {
              response: responseObject('failed', [], {
                error: { code, message: `Failed: ${code}.` },
                usage: null,
              }),
            },
          ],
        ]),
      );

      const error = await upstreamFailure(provider().call(streamingRequest([])));

      expect(error).toMatchObject({ code, message: `Failed: ${code}.`, retryable, status: null });
    },
  );

  it.each([
    [
      'a rate limit',
      { code: 'rate_limit_exceeded', message: 'Slow down.', param: null },
      { code: 'rate_limit_exceeded', retryable: true, message: 'Slow down.' },
    ],
    [
      'a context overflow',
      { code: 'context_length_exceeded', message: 'Too long.', param: null },
      { code: 'context_length_exceeded', retryable: false },
    ],
    [
      'an error without a code',
      { code: null, message: 'The server had an error.', param: null },
      { code: 'upstream_error', retryable: true, message: 'The server had an error.' },
    ],
    [
      'a wrapped error with an HTTP status',
      { error: { code: 429, message: 'Too many requests.' } },
      { code: 'rate_limit_exceeded', retryable: true, status: 429 },
    ],
  ])('turns an error event (%s) into an UpstreamError', async (_label, fields, expected) => {
    upstream.handler = serveEventStream(
      transcript([
        ...opening(),
        ...textMessageEvents('msg_upstream', 0, ['Hi']),
        ['error', fields],
      ]),
    );

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject(expected);
  });

  it('reports a stream cut mid-way as truncated and retryable, after the deltas it carried', async () => {
    const text = transcript([
      ...opening(),
      ...textMessageEvents('msg_upstream', 0, ['Hello', ' there']),
    ]);
    upstream.handler = serveEventStream(`${text}event: response.output_text.delta\ndata: {"ty`, {
      size: 40,
      end: false,
    });
    const deltas: ModelDelta[] = [];

    const error = await upstreamFailure(provider().call(streamingRequest(deltas)));

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
    expect(joined(deltas, 'text')).toBe('Hello there');
  });

  it('reports a stream that ends cleanly without a terminal event as truncated', async () => {
    upstream.handler = serveEventStream(
      transcript([...opening(), ...textMessageEvents('msg_upstream', 0, ['Hi'])]),
    );

    const error = await upstreamFailure(provider().call(streamingRequest([])));

    expect(error).toMatchObject({ code: 'upstream_stream_truncated', retryable: true });
  });

  it.each([
    ['data that is not JSON', 'event: response.output_text.delta\ndata: {"type": "resp\n\n'],
    [
      'a delta of the wrong shape',
      `data: ${JSON.stringify({ type: 'response.output_text.delta', item_id: 'msg_upstream', delta: 42 })}\n\n`,
    ],
    [
      'arguments for an item never announced',
      `data: ${JSON.stringify({ type: 'response.function_call_arguments.delta', item_id: 'fc_x', delta: '{' })}\n\n`,
    ],
    [
      'a terminal event without a Response',
      `data: ${JSON.stringify({ type: 'response.completed', response: { status: 'completed' } })}\n\n`,
    ],
  ])('rejects %s as a bad response and closes the stream', async (_label, bad) => {
    let write: (text: string) => void = () => undefined;
    upstream.handler = (_request, response) => {
      startEventStream(response);
      response.write(transcript([...opening(), ...textMessageEvents('msg_upstream', 0, ['Hi'])]));
      write = (text) => response.write(text);
    };
    const deltas: ModelDelta[] = [];
    const outcome = upstreamFailure(
      provider().call(
        streamingRequest(deltas, {
          // The bad event follows once the good ones are in; the stream then stays open.
          onDelta: (delta) => {
            deltas.push(delta);
            setImmediate(() => write(bad));
          },
        }),
      ),
    );

    const error = await within(2_000, outcome);

    expect(error).toMatchObject({ code: 'upstream_bad_response', retryable: false });
    expect(deltas).toHaveLength(1);
    await within(2_000, upstream.abandoned);
  });

  it('classifies an HTTP error before the stream as the non-streaming path does', async () => {
    upstream.handler = (_request, response) =>
      sendJson(
        response,
        429,
        { error: { message: 'Slow down.', type: 'requests', code: 'rate_limit_exceeded' } },
        { 'retry-after': '2' },
      );

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
      startEventStream(response);
      response.write(transcript(opening()));
    };

    const error = await within(3_000, upstreamFailure(provider(200).call(streamingRequest([]))));

    expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
    await within(2_000, upstream.abandoned);
  });

  it('closes the connection and rejects with the abort reason when cancelled mid-stream', async () => {
    upstream.handler = (_request, response) => {
      startEventStream(response);
      response.write(
        transcript([
          ...opening(),
          [
            'response.output_item.added',
            { output_index: 0, item: message('msg_up', [], 'in_progress') },
          ],
          [
            'response.output_text.delta',
            { item_id: 'msg_up', output_index: 0, content_index: 0, delta: 'Hel' },
          ],
        ]),
      );
      // Then nothing more: the caller cancels while waiting.
    };
    const controller = new AbortController();
    const reason = new Error('cancelled by client');
    const deltas: ModelDelta[] = [];

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
    await within(2_000, upstream.abandoned);
    expect(deltas).toHaveLength(1);
  });

  it('does not call the upstream when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by client'));

    const error = await failure(
      provider().call(streamingRequest([], { signal: controller.signal })),
    );

    expect(error).not.toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ message: 'cancelled by client' });
    expect(upstream.received).toHaveLength(0);
  });

  it('lets an error thrown by the listener through unchanged and closes the stream', async () => {
    upstream.handler = (_request, response) => {
      startEventStream(response);
      response.write(transcript([...opening(), ...textMessageEvents('msg_upstream', 0, ['Hi'])]));
    };
    const bug = new TypeError('listener bug');

    const error = await within(
      2_000,
      failure(
        provider().call(
          streamingRequest([], {
            onDelta: () => {
              throw bug;
            },
          }),
        ),
      ),
    );

    expect(error).toBe(bug);
    await within(2_000, upstream.abandoned);
  });
});
