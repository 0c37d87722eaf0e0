import {
  summaryCall,
  type FunctionCallItem,
  type Item,
  type ModelItem,
  type MessageItem,
} from '@ratchet/core';
import { MockProvider } from './mock.provider';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ToolDefinition,
  UpstreamError,
} from './provider';
import { within, modelRequest as plainRequest } from './testing/fixtures';

function user(text: string): MessageItem {
  return {
    type: 'message',
    id: 'msg_u',
    role: 'user',
    status: 'completed',
    content: [{ type: 'input_text', text }],
  };
}

function tool(name: string): ToolDefinition {
  return { type: 'function', name, description: null, parameters: null, strict: null };
}

function modelRequest(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return plainRequest({ model: 'mock', input: [], ...overrides });
}

function say(text: string, overrides: Partial<ModelCallRequest> = {}): Promise<ModelCallResult> {
  return new MockProvider().call(modelRequest({ input: [user(text)], ...overrides }));
}

/** The text of the result's assistant message; fails the test when there is none. */
function answer(result: ModelCallResult): string {
  const message = result.output.find((item) => item.type === 'message');
  if (!message) throw new Error('no assistant message in the output');
  return message.content.map((part) => (part.type === 'output_text' ? part.text : '')).join('');
}

function calls(result: ModelCallResult): Pick<FunctionCallItem, 'name' | 'arguments'>[] {
  return result.output
    .filter((item) => item.type === 'function_call')
    .map((call) => ({ name: call.name, arguments: call.arguments }));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

describe('MockProvider plain answers', () => {
  it('echoes the last user message without directives', async () => {
    const result = await new MockProvider().call(
      modelRequest({ input: [user('first'), user('  second  \n')] }),
    );

    expect(answer(result)).toBe('You said: second');
    expect(result.finishReason).toBe('stop');
    expect(result.output).toEqual([
      {
        type: 'message',
        id: expect.stringMatching(/^msg_[0-9a-f]{24}$/) as unknown,
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'You said: second', annotations: [], logprobs: [] }],
      },
    ]);
  });

  it('greets when there is no user message', async () => {
    const result = await new MockProvider().call(modelRequest({ instructions: 'Be nice.' }));

    expect(answer(result)).toBe('Hello from the mock model.');
  });

  it('keeps lines that only look like directives as text', async () => {
    const result = await say('/usr/bin is missing\n/replying soon');

    expect(answer(result)).toBe('You said: /usr/bin is missing\n/replying soon');
  });

  it('replies with exactly the /reply text, several lines joined', async () => {
    const result = await say('ignored text\n/reply Hello there.\n  /reply Second line  ');

    expect(answer(result)).toBe('Hello there.\nSecond line');
    expect(result.finishReason).toBe('stop');
  });

  it('emits a reasoning item before the message for /think', async () => {
    const result = await say('/think Step one.\n/think Step two.\n/reply Done.');

    expect(result.output).toEqual([
      {
        type: 'reasoning',
        id: expect.stringMatching(/^rs_/) as unknown,
        summary: [],
        content: [{ type: 'reasoning_text', text: 'Step one.\nStep two.' }],
        status: 'completed',
      },
      expect.objectContaining({ type: 'message', role: 'assistant' }),
    ]);
    expect(answer(result)).toBe('Done.');
  });
});

describe('MockProvider tool calls', () => {
  it('calls a tool with the arguments as given, with fresh ids and no message', async () => {
    const result = await say('/call get_weather {"city": "Oslo"}', {
      tools: [tool('get_weather')],
    });

    expect(result.finishReason).toBe('tool_calls');
    expect(result.output).toEqual([
      {
        type: 'function_call',
        id: expect.stringMatching(/^fc_[0-9a-f]{24}$/) as unknown,
        call_id: expect.stringMatching(/^call_[0-9a-f]{24}$/) as unknown,
        name: 'get_weather',
        arguments: '{"city": "Oslo"}',
        status: 'completed',
      },
    ]);
  });

  it('uses {} when /call gives no arguments, and calls tools that were not offered', async () => {
    const result = await say('/call client_side_tool');

    expect(calls(result)).toEqual([{ name: 'client_side_tool', arguments: '{}' }]);
  });

  it('makes several /call lines parallel calls with distinct call ids', async () => {
    const result = await say('/call a {"n":1}\n/call b {"n":2}\n/reply Working on it.');

    expect(result.output.map((item) => item.type)).toEqual([
      'message',
      'function_call',
      'function_call',
    ]);
    expect(answer(result)).toBe('Working on it.');
    expect(calls(result)).toEqual([
      { name: 'a', arguments: '{"n":1}' },
      { name: 'b', arguments: '{"n":2}' },
    ]);
    const ids = result.output.map((item) => (item.type === 'function_call' ? item.call_id : null));
    expect(new Set(ids.filter(Boolean)).size).toBe(2);
  });

  it('makes only the first call when parallel tool calls are off', async () => {
    const result = await say('/call a\n/call b', { parallelToolCalls: false });

    expect(calls(result)).toEqual([{ name: 'a', arguments: '{}' }]);
  });

  it('makes no calls when tool_choice is none', async () => {
    const result = await say('Check the weather\n/call get_weather {}', {
      tools: [tool('get_weather')],
      toolChoice: 'none',
    });

    expect(calls(result)).toEqual([]);
    expect(answer(result)).toBe('You said: Check the weather');
    expect(result.finishReason).toBe('stop');
  });

  it('calls the first tool with {} when tool_choice is required and no /call is given', async () => {
    const result = await say('hi', {
      tools: [tool('first'), tool('second')],
      toolChoice: 'required',
    });

    expect(calls(result)).toEqual([{ name: 'first', arguments: '{}' }]);
    expect(result.output.some((item) => item.type === 'message')).toBe(false);
    expect(result.finishReason).toBe('tool_calls');
  });

  it('answers normally when tool_choice is required but no tools are offered', async () => {
    const result = await say('hi', { toolChoice: 'required' });

    expect(answer(result)).toBe('You said: hi');
  });

  it('calls exactly the named function, with the arguments of a /call naming it', async () => {
    const named = { toolChoice: { type: 'function' as const, name: 'lookup' } };

    const scripted = await say('/call other {"x":1}\n/call lookup {"q":"cats"}', named);
    const unscripted = await say('/call other {"x":1}', named);

    expect(calls(scripted)).toEqual([{ name: 'lookup', arguments: '{"q":"cats"}' }]);
    expect(calls(unscripted)).toEqual([{ name: 'lookup', arguments: '{}' }]);
  });
});

describe('MockProvider asked for a tool', () => {
  const weather: ToolDefinition = {
    type: 'function',
    name: 'get_weather',
    description: 'Get the current weather for a location',
    parameters: {
      type: 'object',
      properties: {
        location: { type: 'string' },
        days: { type: 'integer' },
        units: { type: 'string' },
      },
      required: ['location', 'days'],
    },
    strict: null,
  };
  const question = "What's the weather like in San Francisco?";

  it('calls an offered tool that the message names, with arguments from its parameters', async () => {
    const result = await say(question, { tools: [tool('lookup'), weather] });
    expect(calls(result)).toEqual([
      { name: 'get_weather', arguments: JSON.stringify({ location: question, days: 0 }) },
    ]);
    expect(result.finishReason).toBe('tool_calls');
  });

  it('fills every property when none is required, and matches camelCase names', async () => {
    const searchDocs: ToolDefinition = {
      ...tool('searchDocuments'),
      parameters: {
        type: 'object',
        properties: { query: { type: 'string' }, exact: { type: 'boolean' } },
      },
    };
    expect(calls(await say('Please search the manual.', { tools: [searchDocs] }))).toEqual([
      {
        name: 'searchDocuments',
        arguments: JSON.stringify({ query: 'Please search the manual.', exact: false }),
      },
    ]);
  });

  it('answers as usual when no tool is named, tools are refused, or a line scripts the turn', async () => {
    expect(answer(await say('Any news?', { tools: [weather] }))).toBe('You said: Any news?');
    expect(answer(await say(question, { tools: [weather], toolChoice: 'none' }))).toBe(
      `You said: ${question}`,
    );
    expect(calls(await say(`${question}\n/reply Sunny.`, { tools: [weather] }))).toEqual([]);
    // Short words such as 'get' do not count.
    expect(calls(await say('Get me a coffee.', { tools: [weather] }))).toEqual([]);
  });
});

describe('MockProvider after tool results', () => {
  const input: ModelItem[] = [
    user('/call get_weather {"city":"Oslo"}\n/call get_time'),
    {
      type: 'function_call',
      id: 'fc_1',
      call_id: 'call_1',
      name: 'get_weather',
      arguments: '{"city":"Oslo"}',
      status: 'completed',
    },
    {
      type: 'function_call',
      id: 'fc_2',
      call_id: 'call_2',
      name: 'get_time',
      arguments: '{}',
      status: 'completed',
    },
    {
      type: 'function_call_output',
      id: 'fco_1',
      call_id: 'call_1',
      output: '{"temp":3}',
      status: 'completed',
    },
    {
      type: 'function_call_output',
      id: 'fco_2',
      call_id: 'call_2',
      output: [
        { type: 'input_text', text: '12:00' },
        { type: 'input_text', text: ' UTC' },
      ],
      status: 'completed',
    },
  ];

  it('lists each result with its tool name, in order, instead of calling again', async () => {
    const result = await new MockProvider().call(
      modelRequest({ input, tools: [tool('get_weather')], toolChoice: 'required' }),
    );

    expect(result.output).toHaveLength(1);
    expect(answer(result)).toBe('get_weather: {"temp":3}\nget_time: 12:00 UTC');
    expect(result.finishReason).toBe('stop');
  });

  it('names a result by its call id when no call matches', async () => {
    const orphan: ModelItem = {
      type: 'function_call_output',
      id: 'fco_9',
      call_id: 'call_9',
      output: 'done',
      status: 'completed',
    };

    const result = await new MockProvider().call(modelRequest({ input: [user('x'), orphan] }));

    expect(answer(result)).toBe('call_9: done');
  });
});

describe('MockProvider /rounds', () => {
  /** The input after `rounds` tool rounds of one noop call each, answered `ok`. */
  function afterRounds(script: string, rounds: number): ModelItem[] {
    const input: ModelItem[] = [user(script)];
    for (let round = 1; round <= rounds; round++) {
      const callId = `call_${round}`;
      input.push(
        {
          type: 'function_call',
          id: `fc_${round}`,
          call_id: callId,
          name: 'noop',
          arguments: '{}',
          status: 'completed',
        },
        {
          type: 'function_call_output',
          id: `fco_${round}`,
          call_id: callId,
          output: 'ok',
          status: 'completed',
        },
      );
    }
    return input;
  }

  it('calls again after each tool round until the rounds have run, then answers', async () => {
    const provider = new MockProvider();
    const script = '/rounds 3\n/call noop {"n":1}';

    for (const rounds of [0, 1, 2]) {
      const result = await provider.call(modelRequest({ input: afterRounds(script, rounds) }));
      expect(calls(result)).toEqual([{ name: 'noop', arguments: '{"n":1}' }]);
      expect(result.finishReason).toBe('tool_calls');
    }
    const last = await provider.call(modelRequest({ input: afterRounds(script, 3) }));
    expect(calls(last)).toEqual([]);
    expect(answer(last)).toBe('noop: ok');
  });

  it('counts only the rounds since the last user message', async () => {
    const earlier = afterRounds('/rounds 2\n/call noop', 2);
    const input = [...earlier, ...afterRounds('/rounds 2\n/call noop', 1)];

    const result = await new MockProvider().call(modelRequest({ input }));

    expect(calls(result)).toEqual([{ name: 'noop', arguments: '{}' }]);
  });
});

describe('MockProvider /sleep', () => {
  it('waits before answering', async () => {
    const started = Date.now();

    const result = await say('/sleep 120\nhi');

    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(answer(result)).toBe('You said: hi');
  });

  it('rejects promptly with an AbortError when the signal aborts', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 30);

    const error = await failure(say('/sleep 10000', { signal: controller.signal }));

    expect(error).toMatchObject({ name: 'AbortError' });
    expect(error).not.toBeInstanceOf(UpstreamError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();

    const error = await failure(say('hi', { signal: controller.signal }));

    expect(error).toMatchObject({ name: 'AbortError' });
  });

  it('fails as an upstream timeout when sleeping past the configured timeout', async () => {
    const provider = new MockProvider({ timeoutMs: 50 });

    const error = await failure(provider.call(modelRequest({ input: [user('/sleep 60000')] })));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
  });
});

describe('MockProvider /fail', () => {
  it.each([
    ['503 Service overloaded', 'Service overloaded', 'upstream_error', true],
    ['408 Request timeout', 'Request timeout', 'upstream_error', true],
    ['409 Conflict', 'Conflict', 'upstream_error', true],
    ['429 Too many requests', 'Too many requests', 'rate_limit_exceeded', true],
    ['401 Bad key', 'Bad key', 'upstream_auth_error', false],
    ['403 Forbidden', 'Forbidden', 'upstream_auth_error', false],
    [
      '400 maximum context length is 8192 tokens',
      'maximum context length is 8192 tokens',
      'context_length_exceeded',
      false,
    ],
    ['400 Bad request', 'Bad request', 'upstream_error', false],
    ['500', 'Mock failure (HTTP 500).', 'upstream_error', true],
  ] as const)('/fail %s', async (directive, message, code, retryable) => {
    const error = await failure(say(`/fail ${directive}`));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({
      message,
      code,
      retryable,
      status: Number(directive.slice(0, 3)),
    });
  });

  it('sleeps before failing', async () => {
    const started = Date.now();

    await failure(say('/sleep 80\n/fail 500 late'));

    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
  });
});

describe('MockProvider malformed directives', () => {
  it.each([
    '/sleep soon',
    '/sleep 9999999999',
    '/fail 200 fine',
    '/fail abc',
    '/call',
    '/stream x',
    '/stream',
    '/stream -5',
    '/stream 1.5',
    '/stream 9999999999',
    '/cut',
    '/cut -1',
    '/cut two',
    '/cut 99999999999999999999',
    '/rounds 0',
    '/rounds 1001',
    '/rounds many',
  ])('rejects %s', async (line) => {
    const error = await failure(say(line));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'invalid_mock_directive', retryable: false });
    expect((error as Error).message).toContain(line);
  });
});

describe('MockProvider limits and usage', () => {
  it('cuts an answer over max_output_tokens and finishes with length', async () => {
    const result = await say(`/reply ${'a'.repeat(50)}`, { maxOutputTokens: 5 });

    expect(answer(result)).toBe('a'.repeat(20));
    expect(result.finishReason).toBe('length');
    expect(result.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
  });

  it('keeps an answer that fits max_output_tokens exactly', async () => {
    const result = await say(`/reply ${'a'.repeat(20)}`, { maxOutputTokens: 5 });

    expect(answer(result)).toBe('a'.repeat(20));
    expect(result.finishReason).toBe('stop');
  });

  it('estimates usage from characters, four to a token', async () => {
    // Input: 'abcd' + 'Hello' = 9 chars -> 3 tokens; output 'You said: Hello' = 15 -> 4.
    const result = await say('Hello', { instructions: 'abcd' });

    expect(result.usage).toEqual({
      input_tokens: 3,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 4,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 7,
    });
  });

  it('counts call names and arguments in the output estimate', async () => {
    // Output: name 'abc' + arguments '{"k":1}' = 10 chars -> 3 tokens.
    const result = await say('/call abc {"k":1}');

    expect(result.usage.output_tokens).toBe(3);
  });
});

/** Calls the mock with `onDelta`, collecting the deltas it reports. */
function streamed(
  text: string,
  overrides: Partial<ModelCallRequest> = {},
  provider = new MockProvider(),
): { deltas: ModelDelta[]; done: Promise<ModelCallResult> } {
  const deltas: ModelDelta[] = [];
  const done = provider.call(
    modelRequest({ input: [user(text)], onDelta: (delta) => deltas.push(delta), ...overrides }),
  );
  return { deltas, done };
}

/** What the deltas naming `itemId` add up to. */
function joined(deltas: readonly ModelDelta[], itemId: string): string {
  return deltas
    .filter((delta) => delta.itemId === itemId)
    .map((delta) => delta.delta)
    .join('');
}

/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('MockProvider streaming', () => {
  it('reports deltas that add up to each output item, named by its id, in output order', async () => {
    const { deltas, done } = streamed(
      '/think Let me check the weather.\n/reply Hello world, looking it up.\n' +
        '/call get_weather {"city": "Oslo", "units": "metric"}\n/call get_time',
    );

    const result = await done;

    expect(result.output.map((item) => item.type)).toEqual([
      'reasoning',
      'message',
      'function_call',
      'function_call',
    ]);
    const [reasoning, message, weather, time] = result.output;
    expect(joined(deltas, reasoning.id)).toBe('Let me check the weather.');
    expect(joined(deltas, message.id)).toBe(answer(result));
    expect(joined(deltas, weather.id)).toBe('{"city": "Oslo", "units": "metric"}');
    expect(joined(deltas, time.id)).toBe('{}');
    // Every delta names an output item, and the items stream one after another, in order.
    const order = deltas.map((delta) =>
      result.output.findIndex((item) => item.id === delta.itemId),
    );
    expect(order).not.toContain(-1);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect([...new Set(deltas.map((delta) => delta.type))]).toEqual([
      'reasoning',
      'text',
      'arguments',
    ]);
    expect(deltas.filter((delta) => delta.itemId === reasoning.id)).toEqual(
      ['Let ', 'me ', 'check ', 'the ', 'weather.'].map((delta) => ({
        type: 'reasoning',
        itemId: reasoning.id,
        delta,
      })),
    );
  });

  it('streams text a word at a time with the whitespace after it', async () => {
    const { deltas, done } = streamed('/reply Hello world\n/reply  again ');

    const result = await done;

    expect(answer(result)).toBe('Hello world\nagain');
    expect(deltas).toEqual(
      ['Hello ', 'world\n', 'again'].map((delta) => ({
        type: 'text',
        itemId: result.output[0].id,
        delta,
      })),
    );
  });

  it('streams arguments in short fragments that name the call', async () => {
    const args = '{"query": "weather in Oslo tomorrow"}';
    const { deltas, done } = streamed(`/call search ${args}`);

    const result = await done;

    const call = result.output[0];
    if (call.type !== 'function_call') throw new Error('expected a function call');
    expect(deltas.length).toBeGreaterThan(2);
    for (const delta of deltas) {
      expect(delta).toEqual({
        type: 'arguments',
        itemId: call.id,
        callId: call.call_id,
        name: 'search',
        delta: expect.any(String) as unknown,
      });
      expect(delta.delta.length).toBeGreaterThan(0);
      expect(delta.delta.length).toBeLessThanOrEqual(8);
    }
    expect(joined(deltas, call.id)).toBe(args);
  });

  it('never splits a surrogate pair', async () => {
    // '{"ab":"' is 7 UTF-16 units, so 8-unit pieces would split the first emoji.
    const args = '{"ab":"😀😀😀😀😀😀"}';
    const { deltas, done } = streamed(`/reply 😀😀 ok😀😀\n/call emoji ${args}`);

    const result = await done;

    expect(deltas.length).toBeGreaterThan(3);
    for (const delta of deltas) expect(delta.delta).not.toMatch(LONE_SURROGATE);
    expect(joined(deltas, result.output[0].id)).toBe('😀😀 ok😀😀');
    expect(joined(deltas, result.output[1].id)).toBe(args);
  });

  it('reports no delta for empty text', async () => {
    const { deltas, done } = streamed('/reply');

    const result = await done;

    expect(answer(result)).toBe('');
    expect(deltas).toEqual([]);
  });

  it('streams the plain echo, and an answer cut by max_output_tokens as it ends', async () => {
    const echo = streamed('hi there');
    const limited = streamed(`/reply ${'ab '.repeat(20)}`, { maxOutputTokens: 3 });

    const echoed = await echo.done;
    const cut = await limited.done;

    expect(echo.deltas.map((delta) => delta.delta)).toEqual(['You ', 'said: ', 'hi ', 'there']);
    expect(answer(cut)).toBe('ab ab ab ab ');
    expect(joined(limited.deltas, cut.output[0].id)).toBe('ab ab ab ab ');
    expect(joined(echo.deltas, echoed.output[0].id)).toBe('You said: hi there');
  });

  it('streams the answer after tool results', async () => {
    const deltas: ModelDelta[] = [];
    const input: ModelItem[] = [
      user('/call get_time'),
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'get_time',
        arguments: '{}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_1',
        call_id: 'call_1',
        output: '12:00 UTC',
        status: 'completed',
      },
    ];

    const result = await new MockProvider().call(
      modelRequest({ input, onDelta: (delta) => deltas.push(delta) }),
    );

    expect(answer(result)).toBe('get_time: 12:00 UTC');
    expect(deltas.map((delta) => delta.delta)).toEqual(['get_time: ', '12:00 ', 'UTC']);
  });

  it('returns the same kind of result as a call that does not stream', async () => {
    const script = '/think Hmm.\n/reply Sure.\n/call f {"a":1}';

    const plain = await say(script);
    const { done } = streamed(script);
    const result = await done;

    // Ids are fresh on every call; only their kind is compared.
    const shape = (items: ModelItem[]): unknown[] =>
      items.map((item) => ({
        ...item,
        id: item.id.split('_')[0],
        ...(item.type === 'function_call' ? { call_id: item.call_id.split('_')[0] } : {}),
      }));
    expect(shape(result.output)).toEqual(shape(plain.output));
    expect(result.usage).toEqual(plain.usage);
    expect(result.finishReason).toBe(plain.finishReason);
  });

  it('reports no delta for a turn that fails with /fail', async () => {
    const { deltas, done } = streamed('/fail 503 busy\n/reply never');

    const error = await failure(done);

    expect(error).toMatchObject({ code: 'upstream_error', status: 503 });
    expect(deltas).toEqual([]);
  });
});

describe('MockProvider /stream', () => {
  it('waits between consecutive deltas', async () => {
    const times: number[] = [];
    const started = Date.now();

    const result = await new MockProvider().call(
      modelRequest({
        input: [user('/stream 20\n/reply one two three')],
        onDelta: () => times.push(Date.now()),
      }),
    );

    expect(answer(result)).toBe('one two three');
    expect(times).toHaveLength(3);
    // Two waits of 20 ms; timers may fire a millisecond early.
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
    expect(times[2] - times[0]).toBeGreaterThanOrEqual(30);
  });

  it('is ignored when the call does not stream', async () => {
    const result = await within(2_000, say('/stream 60000\n/reply hi'));

    expect(answer(result)).toBe('hi');
  });

  it('rejects promptly with the abort reason when cancelled mid-stream', async () => {
    const controller = new AbortController();
    const reason = new Error('client went away');
    const { deltas, done } = streamed('/stream 60000\n/reply one two three', {
      signal: controller.signal,
      onDelta: (delta) => {
        deltas.push(delta);
        setTimeout(() => controller.abort(reason), 20);
      },
    });

    const error = await within(2_000, failure(done));

    expect(error).toBe(reason);
    expect(deltas).toHaveLength(1);
  });

  it('stops at once when a listener aborts, even without waits', async () => {
    const controller = new AbortController();
    const { deltas, done } = streamed('/reply one two three', {
      signal: controller.signal,
      onDelta: (delta) => {
        deltas.push(delta);
        controller.abort();
      },
    });

    const error = await failure(done);

    expect(error).toMatchObject({ name: 'AbortError' });
    expect(error).not.toBeInstanceOf(UpstreamError);
    expect(deltas).toHaveLength(1);
  });

  it('counts its waits toward the timeout, with /sleep', async () => {
    // 30 ms of /sleep and a first wait of 20 ms use up the 50 ms timeout: the second wait fails.
    const { deltas, done } = streamed(
      '/sleep 30\n/stream 20\n/reply a b c d',
      {},
      new MockProvider({ timeoutMs: 50 }),
    );

    const error = await failure(done);

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
    expect(deltas.map((delta) => delta.delta)).toEqual(['a ', 'b ']);
  });
});

describe('MockProvider /cut', () => {
  it('reports exactly n deltas, then fails like a dropped stream', async () => {
    const { deltas, done } = streamed('/cut 2\n/reply one two three four');

    const error = await failure(done);

    expect(deltas.map((delta) => delta.delta)).toEqual(['one ', 'two ']);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({
      code: 'upstream_stream_error',
      retryable: true,
      message: 'The upstream model stream was cut after 2 deltas.',
    });
  });

  it('cuts after the last delta of a shorter turn, and before any with /cut 0', async () => {
    const short = streamed('/cut 10\n/reply a b');
    const none = streamed('/cut 0\n/stream 5\n/cut 1\n/reply a b');

    const shortError = await failure(short.done);
    const noneError = await failure(none.done);

    expect(short.deltas).toHaveLength(2);
    expect(shortError).toMatchObject({
      code: 'upstream_stream_error',
      message: 'The upstream model stream was cut after 2 deltas.',
    });
    expect(none.deltas).toEqual([]);
    expect(noneError).toMatchObject({ code: 'upstream_stream_error', retryable: true });
  });

  it('is ignored when the call does not stream', async () => {
    const result = await say('/cut 1\n/reply one two');

    expect(answer(result)).toBe('one two');
  });
});

describe('MockProvider summaries (POST /v1/responses/compact)', () => {
  /** The mock's answer to the summary call for `conversation`. */
  async function summarise(conversation: Item[]): Promise<ModelCallResult> {
    const call = summaryCall(conversation, 'Be a launch planner.');
    return new MockProvider().call(modelRequest({ ...call, toolChoice: 'none' }));
  }

  it('summarises the conversation one line per item, reasoning left out', async () => {
    const result = await summarise([
      user('We launch on Tuesday.\n\nSupport   first.'),
      { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'hmm' }] },
      {
        type: 'message',
        id: 'msg_a',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Noted.', annotations: [], logprobs: [] }],
      },
      {
        type: 'function_call',
        id: 'fc_1',
        call_id: 'call_1',
        name: 'notify',
        arguments: '{"team": "support"}',
        status: 'completed',
      },
      {
        type: 'function_call_output',
        id: 'fco_1',
        call_id: 'call_1',
        output: 'sent',
        status: 'completed',
      },
      { type: 'compaction', id: 'cmp_1', encrypted_content: 'x', summary: 'Earlier: hello.' },
    ]);
    expect(answer(result)).toBe(
      [
        'user: We launch on Tuesday. Support first.',
        'assistant: Noted.',
        'called notify({"team": "support"})',
        'notify returned: sent',
        'developer: Summary of the earlier conversation: Earlier: hello.',
      ].join('\n'),
    );
    expect(result.finishReason).toBe('stop');
    expect(result.usage.input_tokens).toBeGreaterThan(0);
  });

  it('runs no directive but /sleep and /fail of the last user message', async () => {
    const quiet = await summarise([user('/call notify {}\n/reply Done.\nhello')]);
    expect(answer(quiet)).toBe('user: /call notify {} /reply Done. hello');
    expect(quiet.output.every((item) => item.type === 'message')).toBe(true);
    const error = await failure(summarise([user('/fail 401 Bad key')]));
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'upstream_auth_error', status: 401 });
  });

  it('says so when there is nothing to summarise', async () => {
    expect(answer(await summarise([]))).toBe('Nothing to summarise.');
  });
});
