import { RatchetError } from './errors';
import {
  conversationIdOf,
  createResponseSchema,
  findBodyProblem,
  MAX_BODY_DEPTH,
  paramOf,
  parseCreateResponse,
} from './request';
import { CALL } from './testing/items';

/** The RatchetError that parsing `body` throws; fails the test when parsing succeeds. */
function rejection(body: unknown): RatchetError {
  try {
    parseCreateResponse(body);
  } catch (error) {
    expect(error).toBeInstanceOf(RatchetError);
    const ratchetError = error as RatchetError;
    expect(ratchetError.kind).toBe('invalid_request');
    return ratchetError;
  }
  throw new Error('expected the request to be rejected');
}

/** A body with a model and the given fields. */
function body(fields: Record<string, unknown>): Record<string, unknown> {
  return { model: 'gpt-4o-mini', ...fields };
}

/** A body whose `input` is the given items. */
function withInput(...items: unknown[]): Record<string, unknown> {
  return body({ input: items });
}

const MAXIMAL_BODY = {
  model: 'gpt-4o-mini',
  input: [
    { type: 'message', id: 'msg_1', role: 'developer', content: 'Be brief.', status: 'completed' },
    { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }] },
    CALL,
    { type: 'function_call_output', id: 'fco_1', call_id: 'call_1', output: '{"temp":21}' },
    {
      type: 'reasoning',
      id: 'rs_1',
      summary: [{ type: 'summary_text', text: 'Thinking' }],
      content: [{ type: 'reasoning_text', text: 'Step one' }],
      encrypted_content: 'opaque',
    },
  ],
  instructions: 'You are helpful.',
  previous_response_id: 'resp_previous',
  tools: [
    {
      type: 'function',
      name: 'get_weather',
      description: 'Current weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
      strict: true,
    },
  ],
  tool_choice: { type: 'function', name: 'get_weather' },
  parallel_tool_calls: false,
  max_output_tokens: 16,
  max_tool_calls: 1,
  temperature: 2,
  top_p: 0.5,
  metadata: { tenant: 'acme' },
  store: true,
  background: true,
  stream: true,
  stream_options: { include_obfuscation: false },
  text: {
    format: {
      type: 'json_schema',
      name: 'weather',
      schema: { type: 'object' },
      description: 'A weather report',
      strict: true,
    },
    verbosity: 'low',
  },
  reasoning: { effort: 'high', summary: 'auto' },
  truncation: 'auto',
  include: ['reasoning.encrypted_content'],
  user: 'user-1',
  safety_identifier: 'safety-1',
  prompt_cache_key: 'cache-1',
  service_tier: 'flex',
  top_logprobs: 20,
  presence_penalty: -2,
  frequency_penalty: 2,
};

describe('parseCreateResponse', () => {
  describe('valid bodies', () => {
    it('accepts a minimal body with only a model', () => {
      expect(parseCreateResponse({ model: 'gpt-4o-mini' })).toEqual({ model: 'gpt-4o-mini' });
    });

    it('accepts a string input', () => {
      expect(parseCreateResponse(body({ input: 'Hello' })).input).toBe('Hello');
    });

    it('accepts a maximal body that sets every parameter', () => {
      // conversation excludes previous_response_id; it has tests of its own below.
      expect([...Object.keys(MAXIMAL_BODY), 'conversation'].sort()).toEqual(
        Object.keys(createResponseSchema.shape).sort(),
      );
      const request = parseCreateResponse(MAXIMAL_BODY);
      const { input: _input, ...rest } = MAXIMAL_BODY;
      expect(request).toMatchObject(rest);
      expect(request.input).toEqual([
        MAXIMAL_BODY.input[0],
        { type: 'message', ...MAXIMAL_BODY.input[1] },
        MAXIMAL_BODY.input[2],
        MAXIMAL_BODY.input[3],
        MAXIMAL_BODY.input[4],
      ]);
    });

    it('accepts null for every optional parameter, as SDKs send it', () => {
      const nullable = [
        'instructions',
        'previous_response_id',
        'parallel_tool_calls',
        'max_output_tokens',
        'max_tool_calls',
        'temperature',
        'top_p',
        'metadata',
        'store',
        'background',
        'stream',
        'stream_options',
        'text',
        'reasoning',
        'truncation',
        'include',
        'user',
        'safety_identifier',
        'prompt_cache_key',
        'service_tier',
        'top_logprobs',
        'presence_penalty',
        'frequency_penalty',
      ];
      const request = parseCreateResponse(
        body(Object.fromEntries(nullable.map((name) => [name, null]))),
      );
      for (const name of nullable) expect(request).toHaveProperty(name, null);
    });

    it.each([
      ['an id', 'conv_1'],
      ['an object with an id', { id: 'conv_1' }],
    ])('accepts a conversation given as %s, and reads its id', (_label, conversation) => {
      const request = parseCreateResponse(body({ conversation }));
      expect(request.conversation).toEqual(conversation);
      expect(conversationIdOf(request)).toBe('conv_1');
    });

    it('has no conversation id without a conversation', () => {
      expect(conversationIdOf(parseCreateResponse(body({ conversation: null })))).toBeNull();
      expect(conversationIdOf(parseCreateResponse(body({})))).toBeNull();
    });

    it('accepts item references, with or without their type', () => {
      const request = parseCreateResponse(
        withInput(
          { type: 'item_reference', id: 'msg_1' },
          { id: 'rs_2' },
          { type: null, id: 'fc_3' },
        ),
      );
      expect(request.input).toEqual([
        { type: 'item_reference', id: 'msg_1' },
        { type: 'item_reference', id: 'rs_2' },
        { type: 'item_reference', id: 'fc_3' },
      ]);
    });

    it('turns a bare {role, content} into a message item', () => {
      const request = parseCreateResponse(withInput({ role: 'user', content: 'Hi' }));
      expect(request.input).toEqual([{ type: 'message', role: 'user', content: 'Hi' }]);
    });

    it.each(['user', 'system', 'developer', 'assistant'])('accepts the message role %s', (role) => {
      expect(parseCreateResponse(withInput({ role, content: 'x' })).input).toEqual([
        { type: 'message', role, content: 'x' },
      ]);
    });

    it.each(['commentary', 'final_answer'])('accepts phase %s on an assistant message', (phase) => {
      const request = parseCreateResponse(
        withInput(
          { role: 'assistant', content: 'x', phase },
          {
            type: 'message',
            role: 'assistant',
            content: [{ type: 'output_text', text: 'y' }],
            phase,
          },
        ),
      );
      expect(request.input).toMatchObject([{ phase }, { phase }]);
    });

    it('accepts every include value ratchet can honour', () => {
      const include = ['reasoning.encrypted_content', 'message.input_image.image_url'];
      expect(parseCreateResponse(body({ include })).include).toEqual(include);
    });

    it('accepts every content part type, filling in part defaults', () => {
      const request = parseCreateResponse(
        withInput(
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Look:' },
              { type: 'input_image', image_url: 'https://example.com/cat.png' },
              { type: 'input_image', file_id: 'file_1', detail: 'low' },
              { type: 'input_file', file_id: 'file_2', filename: 'a.pdf' },
              { type: 'input_file', file_data: 'data:application/pdf;base64,AAAA' },
              { type: 'input_file', file_url: 'https://example.com/b.pdf' },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'output_text', text: 'A cat.' },
              { type: 'refusal', refusal: 'I cannot.' },
            ],
          },
        ),
      );
      expect(request.input).toEqual([
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Look:' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'auto' },
            { type: 'input_image', file_id: 'file_1', detail: 'low' },
            { type: 'input_file', file_id: 'file_2', filename: 'a.pdf' },
            { type: 'input_file', file_data: 'data:application/pdf;base64,AAAA' },
            { type: 'input_file', file_url: 'https://example.com/b.pdf' },
          ],
        },
        {
          type: 'message',
          role: 'assistant',
          content: [
            { type: 'output_text', text: 'A cat.', annotations: [] },
            { type: 'refusal', refusal: 'I cannot.' },
          ],
        },
      ]);
    });

    it('accepts function_call and function_call_output items, with text or part outputs', () => {
      const call = {
        type: 'function_call',
        call_id: 'call_1',
        name: 'get_weather',
        arguments: '{}',
      };
      const textOutput = { type: 'function_call_output', call_id: 'call_1', output: 'sunny' };
      const partsOutput = {
        type: 'function_call_output',
        call_id: 'call_2',
        output: [{ type: 'input_text', text: 'rainy' }],
      };
      expect(parseCreateResponse(withInput(call, textOutput, partsOutput)).input).toEqual([
        call,
        textOutput,
        partsOutput,
      ]);
    });

    it.each([
      ['none', 'none'],
      ['auto', 'auto'],
      ['required', 'required'],
      ['a named function', { type: 'function', name: 'get_weather' }],
      [
        'allowed tools',
        { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'a' }] },
      ],
    ])('accepts tool_choice %s', (_label, toolChoice) => {
      expect(parseCreateResponse(body({ tool_choice: toolChoice })).tool_choice).toEqual(
        toolChoice,
      );
    });

    it.each([{ type: 'text' }, { type: 'json_object' }])('accepts text.format %j', (format) => {
      expect(parseCreateResponse(body({ text: { format } })).text).toEqual({ format });
    });

    it('accepts the boundaries of the numeric ranges', () => {
      const request = parseCreateResponse(
        body({ temperature: 0, top_p: 0, max_output_tokens: 16, top_logprobs: 0 }),
      );
      expect(request).toMatchObject({
        temperature: 0,
        top_p: 0,
        max_output_tokens: 16,
        top_logprobs: 0,
      });
    });

    it('accepts metadata at its limits: 16 pairs, 64-character keys, 512-character values', () => {
      const metadata = Object.fromEntries(
        Array.from({ length: 16 }, (_, i) => [`${i}`.padStart(64, 'k'), 'v'.repeat(512)]),
      );
      expect(parseCreateResponse(body({ metadata })).metadata).toEqual(metadata);
    });

    it('accepts background with store left out or true', () => {
      expect(parseCreateResponse(body({ background: true })).background).toBe(true);
      expect(parseCreateResponse(body({ background: true, store: true })).store).toBe(true);
    });

    it('accepts store false without background', () => {
      expect(parseCreateResponse(body({ store: false, background: false })).store).toBe(false);
    });
  });

  describe('rejected bodies', () => {
    it.each([
      ['an array', []],
      ['null', null],
      ['a string', '{"model":"x"}'],
      ['a number', 42],
      ['undefined', undefined],
    ])('rejects a body that is %s', (_label, value) => {
      const error = rejection(value);
      expect(error.message).toBe('The request body must be a JSON object.');
      expect(error.param).toBeNull();
      expect(error.code).toBe('invalid_body');
    });

    it('rejects a missing model', () => {
      const error = rejection({ input: 'Hi' });
      expect(error.param).toBe('model');
      expect(error.code).toBe('missing_required_parameter');
      expect(error.message).toBe("Missing required parameter: 'model'.");
    });

    it('rejects an empty model', () => {
      expect(rejection({ model: '' }).param).toBe('model');
    });

    it('rejects a model of the wrong type without calling it missing', () => {
      const error = rejection({ model: 42 });
      expect(error.param).toBe('model');
      expect(error.code).toBe('invalid_type');
      expect(error.message).toBe(
        "Invalid type for 'model': expected string, but got an integer instead.",
      );
    });

    it.each([
      ['a number', 42, 'an integer'],
      ['an object', { role: 'user' }, 'an object'],
      ['a boolean', true, 'a boolean'],
    ])('rejects input that is %s: expected string or array', (_label, input, got) => {
      const error = rejection(body({ input }));
      expect(error.param).toBe('input');
      expect(error.code).toBe('invalid_type');
      expect(error.message).toBe(
        `Invalid type for 'input': expected string or array, but got ${got} instead.`,
      );
    });

    it('rejects an unknown top-level parameter by name', () => {
      const error = rejection(body({ frobnicate: true }));
      expect(error.param).toBe('frobnicate');
      expect(error.code).toBe('unknown_parameter');
      expect(error.message).toBe("Unknown parameter: 'frobnicate'.");
    });

    it('rejects an unknown key inside an input item', () => {
      const error = rejection(withInput({ role: 'user', content: 'Hi', foo: 1 }));
      expect(error.param).toBe('input[0].foo');
      expect(error.code).toBe('unknown_parameter');
      expect(error.message).toBe("Unknown parameter: 'input[0].foo'.");
    });

    it('rejects an unknown key deeper down, in a content part', () => {
      const error = rejection(
        withInput({ role: 'user', content: [{ type: 'input_text', text: 'x', bold: true }] }),
      );
      expect(error.param).toBe('input[0].content[0].bold');
      expect(error.code).toBe('unknown_parameter');
    });

    it('rejects an unknown item type, listing the known ones', () => {
      const error = rejection(withInput({ type: 'web_search_call', id: 'ws_1' }));
      expect(error.param).toBe('input[0].type');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toContain("'message'");
      expect(error.message).toContain("'function_call_output'");
    });

    it('rejects an item with neither type nor role', () => {
      expect(rejection(withInput({ content: 'Hi' })).param).toBe('input[0].type');
    });

    it('rejects an unknown content part type', () => {
      const error = rejection(withInput({ role: 'user', content: [{ type: 'input_video' }] }));
      expect(error.param).toBe('input[0].content[0].type');
      expect(error.code).toBe('invalid_value');
    });

    it('rejects an unknown message role', () => {
      const error = rejection(withInput({ role: 'robot', content: 'Hi' }));
      expect(error.param).toBe('input[0].role');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toContain('user');
    });

    it('rejects message content of the wrong type, naming the item', () => {
      const error = rejection(
        withInput({ role: 'user', content: 'fine' }, { role: 'user', content: 42 }),
      );
      expect(error.param).toBe('input[1].content');
      expect(error.code).toBe('invalid_type');
      expect(error.message).toBe(
        "Invalid type for 'input[1].content': expected string or array, but got an integer instead.",
      );
    });

    it('rejects a message without content as missing', () => {
      const error = rejection(withInput({ role: 'user' }));
      expect(error.param).toBe('input[0].content');
      expect(error.code).toBe('missing_required_parameter');
    });

    it('rejects a function_call without call_id', () => {
      const error = rejection(withInput({ type: 'function_call', name: 'f', arguments: '{}' }));
      expect(error.param).toBe('input[0].call_id');
      expect(error.code).toBe('missing_required_parameter');
    });

    it.each([
      ['temperature', { temperature: 2.5 }],
      ['temperature', { temperature: -0.1 }],
      ['top_p', { top_p: 1.5 }],
      ['presence_penalty', { presence_penalty: -3 }],
      ['frequency_penalty', { frequency_penalty: 2.1 }],
      ['top_logprobs', { top_logprobs: 21 }],
      ['max_output_tokens', { max_output_tokens: 15 }],
      ['max_tool_calls', { max_tool_calls: 0 }],
      ['truncation', { truncation: 'sometimes' }],
      ['service_tier', { service_tier: 'gold' }],
      ['safety_identifier', { safety_identifier: 's'.repeat(65) }],
    ])('rejects an out-of-range %s', (param, fields) => {
      const error = rejection(body(fields));
      expect(error.param).toBe(param);
      expect(error.code).toBe('invalid_value');
      expect(error.message).toMatch(new RegExp(`^Invalid value for '${param}': `));
    });

    it('rejects a fractional max_output_tokens as the wrong type', () => {
      const error = rejection(body({ max_output_tokens: 100.5 }));
      expect(error.param).toBe('max_output_tokens');
      expect(error.code).toBe('invalid_type');
      expect(error.message).toBe(
        "Invalid type for 'max_output_tokens': expected int, but got a number instead.",
      );
    });

    it('rejects a numeric parameter sent as a string as a wrong type', () => {
      const error = rejection(body({ temperature: '0.5' }));
      expect(error.param).toBe('temperature');
      expect(error.code).toBe('invalid_type');
      expect(error.message).toContain('but got a string instead');
    });

    it('rejects metadata with 17 pairs', () => {
      const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
      const error = rejection(body({ metadata }));
      expect(error.param).toBe('metadata');
      expect(error.message).toBe("Invalid value for 'metadata': must have at most 16 pairs.");
    });

    it('rejects a metadata key longer than 64 characters, naming the entry', () => {
      const key = 'k'.repeat(65);
      const error = rejection(body({ metadata: { [key]: 'v' } }));
      expect(error.param).toBe(`metadata.${key}`);
      expect(error.code).toBe('invalid_value');
    });

    it('rejects a metadata value longer than 512 characters, naming the entry', () => {
      const error = rejection(body({ metadata: { note: 'v'.repeat(513) } }));
      expect(error.param).toBe('metadata.note');
      expect(error.message).toBe(
        "Invalid value for 'metadata.note': values must be at most 512 characters.",
      );
    });

    it.each(['get weather', 'get.weather', '', 'x'.repeat(65)])(
      'rejects the tool name %j',
      (name) => {
        const error = rejection(body({ tools: [{ type: 'function', name }] }));
        expect(error.param).toBe('tools[0].name');
        expect(error.message).toBe(
          "Invalid value for 'tools[0].name': must match ^[a-zA-Z0-9_-]{1,64}$.",
        );
      },
    );

    it('rejects a tool type ratchet does not support', () => {
      const error = rejection(body({ tools: [{ type: 'web_search' }] }));
      expect(error.param).toBe('tools[0].type');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toBe(
        "Invalid value for 'tools[0].type': expected one of 'function', 'mcp'.",
      );
    });

    it('rejects an unknown tool_choice string', () => {
      const error = rejection(body({ tool_choice: 'sometimes' }));
      expect(error.param).toBe('tool_choice');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toContain('none');
    });

    it('rejects a function tool_choice without a name', () => {
      const error = rejection(body({ tool_choice: { type: 'function' } }));
      expect(error.param).toBe('tool_choice.name');
      expect(error.code).toBe('missing_required_parameter');
    });

    it('rejects a json_schema text format without a schema', () => {
      const error = rejection(body({ text: { format: { type: 'json_schema', name: 'out' } } }));
      expect(error.param).toBe('text.format.schema');
    });

    it('rejects previous_response_id together with conversation', () => {
      const error = rejection(body({ previous_response_id: 'resp_1', conversation: 'conv_1' }));
      expect(error.param).toBe('conversation');
      expect(error.code).toBe('mutually_exclusive_parameters');
    });

    it.each([
      [{ conversation: '' }, 'conversation'],
      [{ conversation: 7 }, 'conversation'],
      [{ conversation: {} }, 'conversation.id'],
      [{ conversation: { id: 'conv_1', extra: true } }, 'conversation.extra'],
      [{ input: [{ type: 'item_reference' }] }, 'input[0].id'],
      [{ input: [{ id: 'msg_1', content: 'x' }] }, 'input[0].content'],
    ])('rejects %j naming the field', (fields, param) => {
      expect(rejection(body(fields)).param).toBe(param);
    });

    it("rejects a phase on a message that is not the assistant's, naming it", () => {
      const error = rejection(
        withInput(
          { role: 'assistant', content: 'x' },
          { role: 'user', content: 'y', phase: 'commentary' },
        ),
      );
      expect(error.param).toBe('input[1].phase');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toBe(
        "Invalid value for 'input[1].phase': only assistant messages have a phase.",
      );
    });

    it('rejects an unknown phase, listing the known ones', () => {
      const error = rejection(withInput({ role: 'assistant', content: 'x', phase: 'draft' }));
      expect(error.param).toBe('input[0].phase');
      expect(error.message).toContain('"commentary"|"final_answer"');
    });

    it('rejects an include value OpenAI does not define, naming its index', () => {
      const error = rejection(body({ include: ['reasoning.encrypted_content', 'everything'] }));
      expect(error.param).toBe('include[1]');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toContain('"reasoning.encrypted_content"');
    });

    it.each([
      ['file_search_call.results', 'file_search'],
      ['web_search_call.results', 'web_search'],
      ['web_search_call.action.sources', 'web_search'],
      ['computer_call_output.output.image_url', 'computer'],
      ['code_interpreter_call.outputs', 'code_interpreter'],
      ['message.output_text.logprobs', 'log probabilities'],
    ])('rejects include %s, which ratchet cannot honour, saying why', (value, why) => {
      const error = rejection(body({ include: ['message.input_image.image_url', value] }));
      expect(error.param).toBe('include[1]');
      expect(error.code).toBe('unsupported_include');
      expect(error.message).toContain(`'${value}' cannot be included`);
      expect(error.message).toContain(why);
    });

    it('rejects background with store false', () => {
      const error = rejection(body({ background: true, store: false }));
      expect(error.param).toBe('background');
      expect(error.code).toBe('invalid_value');
      expect(error.message).toBe(
        'Background responses must be stored: background requires store to be true.',
      );
    });
  });
});

describe('findBodyProblem', () => {
  it('names the first string holding a NUL character, or the object of such a key', () => {
    expect(findBodyProblem({ a: ['x', { b: 'y' }] })).toBeNull();
    const nul = (param: string) => ({ param, problem: 'nul_character' });
    expect(findBodyProblem({ a: ['x', { b: 'y\u0000' }], c: '\u0000' })).toEqual(nul('a[1].b'));
    expect(findBodyProblem({ a: { ['k\u0000']: 1 } })).toEqual(nul('a'));
    expect(findBodyProblem({ ['k\u0000']: 1 })).toEqual(nul(''));
  });

  it(`names the first value nested deeper than ${MAX_BODY_DEPTH} levels, at any depth`, () => {
    const nested = (depth: number): unknown => {
      let value: unknown = 'bottom';
      for (let i = 0; i < depth; i++) value = [value];
      return { a: value };
    };
    expect(findBodyProblem(nested(MAX_BODY_DEPTH - 1))).toBeNull();
    const problem = findBodyProblem(nested(100_000));
    expect(problem?.problem).toBe('too_deep');
    expect(problem?.param).toBe(`a${'[0]'.repeat(MAX_BODY_DEPTH - 1)}`);
  });

  it('makes parsing a body with one fail naming the field', () => {
    const error = rejection(body({ input: [{ role: 'user', content: 'a\u0000b' }] }));
    expect(error.param).toBe('input[0].content');
    expect(error.code).toBe('invalid_value');
    const deep = rejection(
      body({
        tools: [
          {
            type: 'function',
            name: 'f',
            parameters: { p: JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) as unknown },
          },
        ],
      }),
    );
    expect(deep.param).toMatch(/^tools\[0\]\.parameters\.p(\[0\])+$/);
    expect(deep.message).toContain(`at most ${MAX_BODY_DEPTH} levels`);
  });
});

describe('paramOf', () => {
  it('writes keys with dots and indexes with brackets', () => {
    expect(paramOf(['input', 0, 'content', 1, 'text'])).toBe('input[0].content[1].text');
    expect(paramOf(['model'])).toBe('model');
    expect(paramOf([])).toBe('');
  });
});
