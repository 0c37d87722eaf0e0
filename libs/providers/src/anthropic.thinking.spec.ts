import { AnthropicStreamDecoder } from './anthropic.stream-decoder';
import { isEncodedThinking, decodeThinking, encodeThinking } from './anthropic.thinking';
import type { ModelDelta } from './provider';

describe('sealed Anthropic thinking', () => {
  const block = { type: 'thinking' as const, thinking: 'Step one. ☀', signature: 'sig==' };

  it('opens to the exact block, for the model that wrote it only', () => {
    const sealed = encodeThinking(block, 'claude-a');
    expect(isEncodedThinking(sealed)).toBe(true);
    expect(decodeThinking(sealed, 'claude-a')).toEqual(block);
    expect(decodeThinking(sealed, 'claude-b')).toBeNull();
  });

  it('does not open what it did not seal, or a seal tampered into another shape', () => {
    expect(isEncodedThinking('gAAAA-openai')).toBe(false);
    expect(decodeThinking('gAAAA-openai', 'claude-a')).toBeNull();
    const forged = `ratchet-anthropic-thinking.v1.${Buffer.from(
      JSON.stringify({ model: 'claude-a', block: { type: 'thinking', thinking: 1 } }),
    ).toString('base64url')}`;
    expect(decodeThinking(forged, 'claude-a')).toBeNull();
  });

  it('sends back only the fields Anthropic takes', () => {
    const padded = `ratchet-anthropic-thinking.v1.${Buffer.from(
      JSON.stringify({ model: 'claude-a', block: { ...block, cache_control: { type: 'x' } } }),
    ).toString('base64url')}`;
    expect(decodeThinking(padded, 'claude-a')).toEqual(block);
  });
});

describe('AnthropicStreamDecoder thinking', () => {
  const event = (data: Record<string, unknown>): string => JSON.stringify(data);

  it('seals streamed thinking with its signature, and redacted thinking as it came', () => {
    const deltas: ModelDelta[] = [];
    const decoder = new AnthropicStreamDecoder((delta) => deltas.push(delta), 'claude-a');
    for (const data of [
      { type: 'message_start', message: { usage: { input_tokens: 3 } } },
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'redacted_thinking', data: 'opaque' },
      },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      },
      {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'thinking_delta', thinking: 'Hm.' },
      },
      {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'signature_delta', signature: 'sig' },
      },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'Hi' } },
      { type: 'content_block_stop', index: 2 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } },
      { type: 'message_stop' },
    ]) {
      decoder.push(event(data));
    }
    const [redacted, thinking, text] = decoder.finish().output;
    expect(redacted).toEqual({
      type: 'reasoning',
      id: redacted.id,
      summary: [],
      status: 'completed',
      encrypted_content: encodeThinking({ type: 'redacted_thinking', data: 'opaque' }, 'claude-a'),
    });
    expect(thinking).toMatchObject({
      content: [{ type: 'reasoning_text', text: 'Hm.' }],
      encrypted_content: encodeThinking(
        { type: 'thinking', thinking: 'Hm.', signature: 'sig' },
        'claude-a',
      ),
    });
    expect(text).toMatchObject({ type: 'message' });
    // Only readable thinking streams.
    expect(deltas).toEqual([
      { type: 'reasoning', itemId: thinking.id, delta: 'Hm.' },
      { type: 'text', itemId: text.id, delta: 'Hi' },
    ]);
  });

  it('keeps thinking without a signature readable but without anything to send back', () => {
    const decoder = new AnthropicStreamDecoder(() => undefined, 'claude-a');
    for (const data of [
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: 'x' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' } },
      { type: 'message_stop' },
    ]) {
      decoder.push(event(data));
    }
    const [thinking] = decoder.finish().output;
    expect(thinking).toMatchObject({ content: [{ type: 'reasoning_text', text: 'x' }] });
    expect(thinking).not.toHaveProperty('encrypted_content');
  });
});
