import type { ModelItem } from '@ratchet/core';
import { encodeThinking } from './anthropic.thinking';
import { encodeResponsesRequest } from './openai-responses.encoder';
import { modelRequest, userMessage } from './testing/fixtures';

const assistant = (phase?: 'commentary' | 'final_answer'): ModelItem => ({
  type: 'message',
  id: 'msg_a',
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'output_text', text: 'Checking.', annotations: [], logprobs: [] }],
  ...(phase ? { phase } : {}),
});

describe('encodeResponsesRequest fields', () => {
  it("sends an assistant message's phase back, and none for messages without one", () => {
    const body = encodeResponsesRequest(
      modelRequest({ input: [userMessage('Hi'), assistant('commentary'), assistant()] }),
    );
    expect(body.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] },
      {
        type: 'message',
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Checking.' }],
        phase: 'commentary',
      },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
    ]);
  });

  it('sends verbosity in text, beside a format or alone', () => {
    expect(encodeResponsesRequest(modelRequest({ verbosity: 'low' })).text).toEqual({
      verbosity: 'low',
    });
    expect(
      encodeResponsesRequest(
        modelRequest({ verbosity: 'high', textFormat: { type: 'json_object' } }),
      ).text,
    ).toEqual({ format: { type: 'json_object' }, verbosity: 'high' });
    expect(encodeResponsesRequest(modelRequest())).not.toHaveProperty('text');
  });

  it('leaves verbosity out for a model that refuses it', () => {
    const body = encodeResponsesRequest(modelRequest({ verbosity: 'low' }), { verbosity: false });
    expect(body).not.toHaveProperty('text');
  });

  it('sends user and safety_identifier when the request has them', () => {
    const body = encodeResponsesRequest(modelRequest({ user: 'u-1', safetyIdentifier: 'hash-1' }));
    expect(body).toMatchObject({ user: 'u-1', safety_identifier: 'hash-1' });
    const plain = encodeResponsesRequest(modelRequest({ user: null, safetyIdentifier: null }));
    expect(plain).not.toHaveProperty('user');
    expect(plain).not.toHaveProperty('safety_identifier');
  });

  it('asks for encrypted reasoning only when the client did', () => {
    expect(
      encodeResponsesRequest(modelRequest({ includeEncryptedReasoning: true })).include,
    ).toEqual(['reasoning.encrypted_content']);
    expect(encodeResponsesRequest(modelRequest())).not.toHaveProperty('include');
  });

  it("sends back its own encrypted reasoning, but not Anthropic's sealed thinking", () => {
    const own: ModelItem = {
      type: 'reasoning',
      id: 'rs_1',
      summary: [{ type: 'summary_text', text: 'Plan.' }],
      encrypted_content: 'gAAAA-opaque',
    };
    const anthropic: ModelItem = {
      type: 'reasoning',
      id: 'rs_2',
      summary: [],
      content: [{ type: 'reasoning_text', text: 'Hmm.' }],
      encrypted_content: encodeThinking(
        { type: 'thinking', thinking: 'Hmm.', signature: 's' },
        'gpt-test',
      ),
    };
    const body = encodeResponsesRequest(
      modelRequest({ input: [own, anthropic, userMessage('Go')] }),
    );
    expect(body.input).toEqual([
      {
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: 'Plan.' }],
        encrypted_content: 'gAAAA-opaque',
      },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Go' }] },
    ]);
  });
});
