import { parseRatchetConfig, type ModelConfig } from '@ratchet/config';
import type { MessageItem } from '@ratchet/core';
import { UpstreamError, type ModelCallRequest } from '@ratchet/providers';
import { fitToContextWindow } from './model-call';

function modelConfig(yaml: string): ModelConfig {
  return parseRatchetConfig(`models:\n  m:\n${yaml}`, 'test.yaml', {}).models.m;
}

function message(id: string, role: 'user' | 'assistant', chars: number): MessageItem {
  const text = 'x'.repeat(chars);
  return {
    type: 'message',
    id,
    role,
    status: 'completed',
    content: [
      role === 'user'
        ? { type: 'input_text', text }
        : { type: 'output_text', text, annotations: [], logprobs: [] },
    ],
  };
}

// Four characters a token: each of these items is 100 tokens.
const call: ModelCallRequest = {
  model: 'm',
  instructions: null,
  input: [message('u1', 'user', 400), message('a1', 'assistant', 400), message('u2', 'user', 400)],
  tools: [],
  toolChoice: 'auto',
  parallelToolCalls: true,
  maxOutputTokens: null,
  temperature: null,
  topP: null,
  textFormat: null,
};

describe('fitToContextWindow', () => {
  it('leaves the input of a model without a known window alone', () => {
    const fitted = fitToContextWindow(call, {
      name: 'm',
      config: modelConfig('    provider: mock\n'),
    });
    expect(fitted).toEqual({ request: call, truncation: null });
  });

  it('drops the oldest items to fit the configured window, and says what it dropped', () => {
    const config = modelConfig('    provider: mock\n    contextWindow: 150\n');
    const fitted = fitToContextWindow(call, { name: 'm', config });
    expect(fitted.request.input.map((item) => item.id)).toEqual(['u2']);
    expect(fitted.truncation).toEqual({
      droppedItemIds: ['u1', 'a1'],
      estimatedInputTokens: 100,
      contextWindow: 150,
    });
  });

  it("keeps the output limit free, and Anthropic's default one when the call sets none", () => {
    const mock = modelConfig('    provider: mock\n    contextWindow: 400\n');
    const limited = fitToContextWindow(
      { ...call, maxOutputTokens: 250 },
      { name: 'm', config: mock },
    );
    expect(limited.truncation?.droppedItemIds).toEqual(['u1', 'a1']);
    const claude = modelConfig(
      '    provider: anthropic\n    baseUrl: http://a/v1\n    contextWindow: 4395\n',
    );
    expect(fitToContextWindow(call, { name: 'm', config: claude }).truncation).toEqual({
      droppedItemIds: ['u1'],
      estimatedInputTokens: 200,
      contextWindow: 4395,
    });
  });

  it('uses the known window of a well-known upstream model', () => {
    const config = modelConfig('    provider: openai-chat\n    baseUrl: http://o/v1\n');
    expect(fitToContextWindow(call, { name: 'gpt-4o', config }).truncation).toBeNull();
  });

  it('fails with context_length_exceeded when what must stay does not fit', () => {
    const config = modelConfig('    provider: mock\n    contextWindow: 99\n');
    let error: unknown;
    try {
      fitToContextWindow(call, { name: 'm', config });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'context_length_exceeded', retryable: false });
    expect((error as Error).message).toContain("model 'm' (context window 99 tokens)");
  });
});
