import { assistantMessage, type ReasoningItem } from './items';
import { parseCreateResponse, type CreateResponseRequest } from './request';
import {
  assembleResponse,
  isTerminalStatus,
  type FunctionTool,
  type ResponseRecord,
  type ResponseStatus,
} from './response';
import type { Usage } from './usage';
import { RESPONSE_RESOURCE_KEYS } from '../../../test/support/open-responses';

const REQUIRED_KEYS = RESPONSE_RESOURCE_KEYS;
/** Keys OpenAI's Response has beyond the spec's required ones, which ratchet echoes too. */
const OPENAI_KEYS = ['user'];

const CREATED_AT = new Date('2026-03-04T05:06:07.890Z');
const COMPLETED_AT = new Date('2026-03-04T05:06:09.999Z');

function record(overrides: Partial<ResponseRecord> = {}): ResponseRecord {
  return {
    id: 'resp_1',
    status: 'queued',
    model: 'gpt-4o-mini',
    request: { model: 'gpt-4o-mini' },
    tools: [],
    output: null,
    error: null,
    incompleteDetails: null,
    usage: null,
    createdAt: CREATED_AT,
    completedAt: null,
    ...overrides,
  };
}

function request(fields: Record<string, unknown>): CreateResponseRequest {
  return parseCreateResponse({ model: 'gpt-4o-mini', ...fields });
}

const WEATHER_TOOL: FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather',
  parameters: { type: 'object', properties: {} },
  strict: null,
};

const USAGE: Usage = {
  input_tokens: 10,
  input_tokens_details: { cached_tokens: 2 },
  output_tokens: 5,
  output_tokens_details: { reasoning_tokens: 1 },
  total_tokens: 15,
};

describe('assembleResponse', () => {
  it("has exactly the 31 required keys and OpenAI's user", () => {
    expect(REQUIRED_KEYS).toHaveLength(31);
    expect(Object.keys(assembleResponse(record())).sort()).toEqual(
      [...REQUIRED_KEYS, ...OPENAI_KEYS].sort(),
    );
  });

  it('has exactly those keys when every request parameter is set, too', () => {
    const full = record({
      status: 'completed',
      completedAt: COMPLETED_AT,
      request: request({
        instructions: 'Be brief.',
        reasoning: { effort: 'low' },
        metadata: { a: 'b' },
        user: 'u',
        stream: true,
        include: ['reasoning.encrypted_content'],
      }),
      usage: USAGE,
    });
    expect(Object.keys(assembleResponse(full)).sort()).toEqual(
      [...REQUIRED_KEYS, ...OPENAI_KEYS].sort(),
    );
  });

  it('echoes the conversation as {id}, however the request named it, and only then', () => {
    for (const conversation of ['conv_1', { id: 'conv_1' }]) {
      const response = assembleResponse(record({ request: request({ conversation }) }));
      expect(response.conversation).toEqual({ id: 'conv_1' });
      expect(Object.keys(response).sort()).toEqual(
        [...REQUIRED_KEYS, ...OPENAI_KEYS, 'conversation'].sort(),
      );
    }
    expect(assembleResponse(record())).not.toHaveProperty('conversation');
  });

  it('fills in the defaults for a request that only names a model', () => {
    expect(assembleResponse(record())).toEqual({
      id: 'resp_1',
      object: 'response',
      created_at: Math.floor(CREATED_AT.getTime() / 1000),
      completed_at: null,
      status: 'queued',
      incomplete_details: null,
      model: 'gpt-4o-mini',
      previous_response_id: null,
      instructions: null,
      output: [],
      error: null,
      tools: [],
      tool_choice: 'auto',
      truncation: 'disabled',
      parallel_tool_calls: true,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      top_p: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      top_logprobs: 0,
      temperature: 1,
      reasoning: null,
      usage: null,
      max_output_tokens: null,
      max_tool_calls: null,
      store: true,
      background: false,
      service_tier: 'default',
      metadata: {},
      safety_identifier: null,
      prompt_cache_key: null,
      user: null,
    });
  });

  it('treats request parameters sent as null like left-out ones', () => {
    const nulls = request({
      instructions: null,
      previous_response_id: null,
      parallel_tool_calls: null,
      temperature: null,
      top_p: null,
      metadata: null,
      store: null,
      background: null,
      text: null,
      reasoning: null,
      truncation: null,
      service_tier: null,
    });
    expect(assembleResponse(record({ request: nulls }))).toEqual(assembleResponse(record()));
  });

  it('echoes the request values that were given', () => {
    const response = assembleResponse(
      record({
        request: request({
          instructions: 'Be brief.',
          previous_response_id: 'resp_0',
          tool_choice: { type: 'function', name: 'get_weather' },
          truncation: 'auto',
          parallel_tool_calls: false,
          text: {
            format: { type: 'json_schema', name: 'out', schema: { type: 'object' } },
            verbosity: 'low',
          },
          top_p: 0.9,
          presence_penalty: 0.5,
          frequency_penalty: -0.5,
          top_logprobs: 3,
          temperature: 0.2,
          reasoning: { effort: 'high', summary: 'detailed' },
          max_output_tokens: 256,
          max_tool_calls: 4,
          store: false,
          background: false,
          service_tier: 'flex',
          metadata: { tenant: 'acme' },
          safety_identifier: 'user-hash',
          prompt_cache_key: 'cache-key',
          user: 'user-42',
        }),
        tools: [WEATHER_TOOL],
      }),
    );
    expect(response).toMatchObject({
      instructions: 'Be brief.',
      previous_response_id: 'resp_0',
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', name: 'get_weather' },
      truncation: 'auto',
      parallel_tool_calls: false,
      text: {
        format: { type: 'json_schema', name: 'out', schema: { type: 'object' } },
        verbosity: 'low',
      },
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      top_logprobs: 3,
      temperature: 0.2,
      reasoning: { effort: 'high', summary: 'detailed' },
      max_output_tokens: 256,
      max_tool_calls: 4,
      store: false,
      background: false,
      service_tier: 'flex',
      metadata: { tenant: 'acme' },
      safety_identifier: 'user-hash',
      prompt_cache_key: 'cache-key',
      user: 'user-42',
    });
  });

  it('echoes zero-valued sampling parameters instead of replacing them with defaults', () => {
    expect(
      assembleResponse(record({ request: request({ temperature: 0, top_p: 0 }) })),
    ).toMatchObject({ temperature: 0, top_p: 0 });
  });

  it('reports the background flag of a background request', () => {
    expect(assembleResponse(record({ request: request({ background: true }) })).background).toBe(
      true,
    );
  });

  it('fills in the missing half of reasoning with null', () => {
    expect(
      assembleResponse(record({ request: request({ reasoning: { effort: 'low' } }) })).reasoning,
    ).toEqual({ effort: 'low', summary: null });
  });

  it.each([
    ['auto', 'default'],
    ['default', 'default'],
    ['flex', 'flex'],
    ['priority', 'priority'],
  ])('reports service_tier %s as %s', (tier, reported) => {
    expect(
      assembleResponse(record({ request: request({ service_tier: tier }) })).service_tier,
    ).toBe(reported);
  });

  it('uses the model of the record, not of the request', () => {
    expect(assembleResponse(record({ model: 'resolved-model' })).model).toBe('resolved-model');
  });

  describe('timestamps', () => {
    it('gives created_at in whole unix seconds, rounded down', () => {
      const response = assembleResponse(record());
      expect(response.created_at).toBe(Date.UTC(2026, 2, 4, 5, 6, 7) / 1000);
      expect(Number.isInteger(response.created_at)).toBe(true);
    });

    it.each<ResponseStatus>(['queued', 'in_progress'])(
      'leaves completed_at null while %s',
      (status) => {
        expect(assembleResponse(record({ status })).completed_at).toBeNull();
      },
    );

    it('gives completed_at in whole unix seconds once completed', () => {
      const response = assembleResponse(record({ status: 'completed', completedAt: COMPLETED_AT }));
      expect(response.completed_at).toBe(Date.UTC(2026, 2, 4, 5, 6, 9) / 1000);
    });
  });

  describe('results', () => {
    it('carries the output and usage of a completed response', () => {
      const output = [assistantMessage('msg_1', 'Hello!')];
      const response = assembleResponse(
        record({ status: 'completed', completedAt: COMPLETED_AT, output, usage: USAGE }),
      );
      expect(response).toMatchObject({
        status: 'completed',
        output,
        usage: USAGE,
        error: null,
        incomplete_details: null,
      });
    });

    describe('reasoning encrypted content', () => {
      const reasoning: ReasoningItem = {
        type: 'reasoning',
        id: 'rs_1',
        summary: [{ type: 'summary_text', text: 'Thought.' }],
        encrypted_content: 'opaque',
        status: 'completed',
      };
      const finished = (include?: string[]): ResponseRecord =>
        record({
          status: 'completed',
          completedAt: COMPLETED_AT,
          output: [reasoning, assistantMessage('msg_1', 'Hi')],
          request: request(include ? { include } : {}),
        });

      it('is hidden unless the request included it, and kept in the record', () => {
        const record = finished();
        const { encrypted_content: _hidden, ...visible } = reasoning;
        expect(assembleResponse(record).output[0]).toEqual(visible);
        expect(record.output?.[0]).toBe(reasoning);
      });

      it('is shown when the request included reasoning.encrypted_content', () => {
        expect(assembleResponse(finished(['reasoning.encrypted_content'])).output[0]).toEqual(
          reasoning,
        );
      });
    });

    it('carries the error of a failed response', () => {
      const error = { code: 'server_error', message: 'The model is down.' };
      const response = assembleResponse(
        record({ status: 'failed', completedAt: COMPLETED_AT, error }),
      );
      expect(response).toMatchObject({ status: 'failed', error, output: [] });
    });

    it('carries the incomplete details of an incomplete response', () => {
      const response = assembleResponse(
        record({
          status: 'incomplete',
          completedAt: COMPLETED_AT,
          incompleteDetails: { reason: 'max_output_tokens' },
        }),
      );
      expect(response.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    });
  });
});

describe('isTerminalStatus', () => {
  it.each<[ResponseStatus, boolean]>([
    ['queued', false],
    ['in_progress', false],
    ['completed', true],
    ['failed', true],
    ['cancelled', true],
    ['incomplete', true],
  ])('says %s is terminal: %s', (status, terminal) => {
    expect(isTerminalStatus(status)).toBe(terminal);
  });
});
