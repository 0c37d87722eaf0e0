import { createHash } from 'node:crypto';
import type { ModelItem } from '@ratchet/core';
import { encodeAnthropicRequest } from './anthropic.encoder';
import { encodeThinking } from './anthropic.thinking';
import type { ModelCallRequest } from './provider';
import { modelRequest, userMessage } from './testing/fixtures';

function request(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return modelRequest({ model: 'claude-test', ...overrides });
}

const thinking = { type: 'thinking' as const, thinking: 'Weather first.', signature: 'sig-1' };
const redacted = { type: 'redacted_thinking' as const, data: 'opaque' };

function reasoning(id: string, encrypted: string | null): ModelItem {
  return {
    type: 'reasoning',
    id,
    summary: [],
    content: [{ type: 'reasoning_text', text: 'Weather first.' }],
    ...(encrypted ? { encrypted_content: encrypted } : {}),
    status: 'completed',
  };
}

const toolRound: ModelItem[] = [
  {
    type: 'function_call',
    id: 'fc_1',
    call_id: 'toolu_1',
    name: 'weather',
    arguments: '{}',
    status: 'completed',
  },
  {
    type: 'function_call_output',
    id: 'fco_1',
    call_id: 'toolu_1',
    output: 'sunny',
    status: 'completed',
  },
];

describe('encodeAnthropicRequest thinking', () => {
  it("hands the model its own thinking back whole, before the turn's tool use", () => {
    const body = encodeAnthropicRequest(
      request({
        input: [
          userMessage('Weather?'),
          reasoning('rs_1', encodeThinking(thinking, 'claude-test')),
          reasoning('rs_2', encodeThinking(redacted, 'claude-test')),
          ...toolRound,
        ],
      }),
    );
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
      {
        role: 'assistant',
        content: [
          thinking,
          redacted,
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }],
      },
    ]);
  });

  it("leaves out another model's thinking, foreign encrypted content and plain reasoning", () => {
    const body = encodeAnthropicRequest(
      request({
        input: [
          userMessage('Weather?'),
          reasoning('rs_1', encodeThinking(thinking, 'claude-other')),
          reasoning('rs_2', 'gAAAA-openai'),
          reasoning('rs_3', null),
          reasoning('rs_4', 'ratchet-anthropic-thinking.v1.not-base64-json'),
          ...toolRound,
        ],
      }),
    );
    expect(body.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} }],
    });
  });
});

describe('encodeAnthropicRequest metadata', () => {
  it('sends the safety identifier, else the user, as metadata.user_id', () => {
    expect(
      encodeAnthropicRequest(request({ user: 'u-1', safetyIdentifier: 'hash-1' })).metadata,
    ).toEqual({
      user_id: 'hash-1',
    });
    expect(encodeAnthropicRequest(request({ user: 'u-1' })).metadata).toEqual({ user_id: 'u-1' });
    expect(encodeAnthropicRequest(request())).not.toHaveProperty('metadata');
  });

  it('sends an id longer than Anthropic takes as its SHA-256', () => {
    const long = 'u'.repeat(257);
    expect(encodeAnthropicRequest(request({ user: long })).metadata).toEqual({
      user_id: createHash('sha256').update(long).digest('hex'),
    });
    expect(encodeAnthropicRequest(request({ user: 'u'.repeat(256) })).metadata).toEqual({
      user_id: 'u'.repeat(256),
    });
  });

  it('has no place for verbosity', () => {
    expect(encodeAnthropicRequest(request({ verbosity: 'low' }))).not.toHaveProperty('verbosity');
  });
});
