import { encodeChatRequest } from './openai-chat.encoder';
import type { ModelCallRequest } from './provider';
import { modelRequest as plainRequest } from './testing/fixtures';

function request(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return plainRequest({ model: 'm', input: [], ...overrides });
}

describe('encodeChatRequest options', () => {
  it('sends the output limit as max_completion_tokens by default', () => {
    const body = encodeChatRequest(request({ maxOutputTokens: 64 }));
    expect(body.max_completion_tokens).toBe(64);
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('sends it as max_tokens for a dialect that needs the older name', () => {
    const body = encodeChatRequest(request({ maxOutputTokens: 64 }), 'max_tokens');
    expect(body.max_tokens).toBe(64);
    expect(body).not.toHaveProperty('max_completion_tokens');
  });

  it('sends verbosity only to an upstream that takes it', () => {
    const asked = request({ verbosity: 'low' });
    expect(encodeChatRequest(asked, 'max_completion_tokens', { verbosity: true }).verbosity).toBe(
      'low',
    );
    expect(encodeChatRequest(asked)).not.toHaveProperty('verbosity');
    expect(
      encodeChatRequest(request(), 'max_completion_tokens', { verbosity: true }),
    ).not.toHaveProperty('verbosity');
  });

  it('sends user and safety_identifier when the request has them', () => {
    expect(encodeChatRequest(request({ user: 'u-1', safetyIdentifier: 'hash-1' }))).toMatchObject({
      user: 'u-1',
      safety_identifier: 'hash-1',
    });
    const plain = encodeChatRequest(request());
    expect(plain).not.toHaveProperty('user');
    expect(plain).not.toHaveProperty('safety_identifier');
  });

  it("leaves out an assistant message's phase, which Chat Completions has no place for", () => {
    const body = encodeChatRequest(
      request({
        input: [
          {
            type: 'message',
            id: 'msg_a',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }],
            phase: 'commentary',
          },
        ],
      }),
    );
    expect(body.messages).toEqual([{ role: 'assistant', content: 'Checking.' }]);
  });

  it('forwards reasoning effort when the request sets it, and only then', () => {
    expect(encodeChatRequest(request({ reasoningEffort: 'high' })).reasoning_effort).toBe('high');
    expect(encodeChatRequest(request())).not.toHaveProperty('reasoning_effort');
  });

  it('derives a prompt_cache_key from model, instructions and tools, stable across inputs', () => {
    const tool = {
      type: 'function' as const,
      name: 't',
      description: null,
      parameters: null,
      strict: null,
    };
    const base = encodeChatRequest(request({ instructions: 'Be brief.', tools: [tool] }));
    const sameHead = encodeChatRequest(
      request({
        instructions: 'Be brief.',
        tools: [tool],
        input: [{ type: 'message', id: 'msg_1', role: 'user', status: 'completed', content: [] }],
      }),
    );
    const otherHead = encodeChatRequest(request({ instructions: 'Be thorough.', tools: [tool] }));
    expect(base.prompt_cache_key).toMatch(/^ratchet-[0-9a-f]{32}$/);
    expect(sameHead.prompt_cache_key).toBe(base.prompt_cache_key);
    expect(otherHead.prompt_cache_key).not.toBe(base.prompt_cache_key);
  });

  it("uses the request's own prompt_cache_key when it has one", () => {
    expect(encodeChatRequest(request({ promptCacheKey: 'mine' })).prompt_cache_key).toBe('mine');
  });

  it("moves images a tool returned into a user message after the turn's tool messages", () => {
    const body = encodeChatRequest(
      request({
        input: [
          {
            type: 'function_call',
            id: 'fc_1',
            call_id: 'call_1',
            name: 'shot',
            arguments: '{}',
            status: 'completed',
          },
          {
            type: 'function_call',
            id: 'fc_2',
            call_id: 'call_2',
            name: 'echo',
            arguments: '{}',
            status: 'completed',
          },
          {
            type: 'function_call_output',
            id: 'fco_1',
            call_id: 'call_1',
            status: 'completed',
            output: [
              { type: 'input_text', text: 'Here it is.' },
              { type: 'input_image', image_url: 'https://img.test/a.png', detail: 'auto' },
            ],
          },
          {
            type: 'function_call_output',
            id: 'fco_2',
            call_id: 'call_2',
            status: 'completed',
            output: 'ok',
          },
        ],
      }),
    );
    expect(body.messages.slice(1)).toEqual([
      {
        role: 'tool',
        tool_call_id: 'call_1',
        content: 'Here it is.\n[1 attachment(s) of this result follow in the next user message]',
      },
      { role: 'tool', tool_call_id: 'call_2', content: 'ok' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Attachments returned by tool call call_1:' },
          { type: 'image_url', image_url: { url: 'https://img.test/a.png', detail: 'auto' } },
        ],
      },
    ]);
  });
});
