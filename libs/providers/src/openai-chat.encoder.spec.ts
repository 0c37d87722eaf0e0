import { encodeChatRequest } from './openai-chat.encoder';
import type { ModelCallRequest } from './provider';

function request(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return {
    model: 'm',
    instructions: null,
    input: [],
    tools: [],
    toolChoice: 'auto',
    parallelToolCalls: true,
    maxOutputTokens: null,
    temperature: null,
    topP: null,
    textFormat: null,
    ...overrides,
  };
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

  it('forwards reasoning effort when the request sets it, and only then', () => {
    expect(encodeChatRequest(request({ reasoningEffort: 'high' })).reasoning_effort).toBe('high');
    expect(encodeChatRequest(request())).not.toHaveProperty('reasoning_effort');
  });
});
