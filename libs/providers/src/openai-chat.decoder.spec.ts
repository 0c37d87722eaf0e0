import type { ModelItem } from '@ratchet/core';
import { decodeChatCompletion } from './openai-chat.decoder';
import { ChatStreamAssembler } from './openai-chat.stream';
import type { ChatCompletionChunk } from './openai-chat.wire';

// The non-streaming decoder on literal completion bodies, with the focus on reasoning: the
// reasoning fields and an inline `<think>...</think>` span, split as the stream decoder does.

function completion(message: object, finishReason = 'stop'): unknown {
  return { choices: [{ index: 0, message, finish_reason: finishReason }] };
}

/** Each item as [type, text], without ids, to compare shapes. */
function shape(output: readonly ModelItem[]): Array<[string, string]> {
  return output.map((item) => {
    if (item.type === 'reasoning') {
      return ['reasoning', (item.content ?? []).map((part) => part.text).join('')];
    }
    if (item.type === 'message') {
      const text = item.content
        .map((part) => {
          if (part.type === 'refusal') return `[refusal] ${part.refusal}`;
          return 'text' in part ? part.text : `[${part.type}]`;
        })
        .join('|');
      return ['message', text];
    }
    if (item.type === 'function_call') return ['function_call', `${item.name} ${item.arguments}`];
    return [item.type, ''];
  });
}

function decode(message: object, finishReason?: string): Array<[string, string]> {
  return shape(decodeChatCompletion(completion(message, finishReason)).output);
}

describe('decodeChatCompletion: inline <think> reasoning', () => {
  it('turns a leading <think> span into a reasoning item before the message', () => {
    expect(
      decode({ role: 'assistant', content: '<think>2+2 is 4</think>The answer is 4.' }),
    ).toEqual([
      ['reasoning', '2+2 is 4'],
      ['message', 'The answer is 4.'],
    ]);
  });

  it('leaves content that mentions <think> after other text as text', () => {
    const content = 'Wrap it in <think>...</think> tags.';
    expect(decode({ content })).toEqual([['message', content]]);
  });

  it('keeps a span that never closes as reasoning, with an empty answer', () => {
    expect(decode({ content: '<think>still thinking when cut off' }, 'length')).toEqual([
      ['reasoning', 'still thinking when cut off'],
      ['message', ''],
    ]);
    expect(decode({ content: '<think>partial close </thi' }, 'length')).toEqual([
      ['reasoning', 'partial close </thi'],
      ['message', ''],
    ]);
  });

  it('allows whitespace before the span and drops it right after each tag', () => {
    expect(decode({ content: '\n  <think>\n\nsteps\n</think>\n\nAnswer\n' })).toEqual([
      // Whitespace before a closing tag is the reasoning's own; only after a tag is dropped.
      ['reasoning', 'steps\n'],
      ['message', 'Answer\n'],
    ]);
    // Whitespace alone is text, as in a stream.
    expect(decode({ content: '  ' })).toEqual([['message', '  ']]);
  });

  it('leaves a lone partial opening tag as text', () => {
    expect(decode({ content: '<thi' })).toEqual([['message', '<thi']]);
  });

  it('puts reasoning_content first and the span after it, in one reasoning item', () => {
    // A stream sends the reasoning field's deltas before the content, so its reasoning item
    // holds the field's text followed by the span's, joined as they come.
    expect(
      decode({ reasoning_content: 'From the field. ', content: '<think>Inline.</think>Hi' }),
    ).toEqual([
      ['reasoning', 'From the field. Inline.'],
      ['message', 'Hi'],
    ]);
  });

  it('accepts the `reasoning` field, preferring reasoning_content when both are set', () => {
    expect(decode({ reasoning: 'Via reasoning.', content: 'Hi' })).toEqual([
      ['reasoning', 'Via reasoning.'],
      ['message', 'Hi'],
    ]);
    expect(
      decode({ reasoning_content: 'Preferred.', reasoning: 'Ignored.', content: 'Hi' }),
    ).toEqual([
      ['reasoning', 'Preferred.'],
      ['message', 'Hi'],
    ]);
    expect(decode({ reasoning: null, content: 'Hi' })).toEqual([['message', 'Hi']]);
  });

  it('keeps the order reasoning, message, calls, and drops a message that was only a span', () => {
    const toolCalls = [
      { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
    ];
    expect(decode({ content: '<think>need data</think>Checking.', tool_calls: toolCalls })).toEqual(
      [
        ['reasoning', 'need data'],
        ['message', 'Checking.'],
        ['function_call', 'lookup {"q":1}'],
      ],
    );
    expect(decode({ content: '<think>need data</think>\n', tool_calls: toolCalls })).toEqual([
      ['reasoning', 'need data'],
      ['function_call', 'lookup {"q":1}'],
    ]);
  });
});

describe('decodeChatCompletion matches the stream decoder', () => {
  /** The same message streamed: reasoning field, then content in pieces, then calls. */
  function streamed(message: Record<string, unknown>, pieceSize: number): ModelItem[] {
    const assembler = new ChatStreamAssembler(() => {});
    const chunk = (
      delta: Record<string, unknown>,
      finishReason: string | null = null,
    ): ChatCompletionChunk => ({
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
    for (const field of ['reasoning_content', 'reasoning'] as const) {
      const value = message[field];
      if (typeof value === 'string') assembler.push(chunk({ [field]: value }));
    }
    const content = typeof message.content === 'string' ? message.content : '';
    for (let at = 0; at < content.length; at += pieceSize) {
      assembler.push(chunk({ content: content.slice(at, at + pieceSize) }));
    }
    const calls = (message.tool_calls ?? []) as Array<Record<string, unknown>>;
    calls.forEach((call, index) => assembler.push(chunk({ tool_calls: [{ index, ...call }] })));
    assembler.push(chunk({}, 'stop'));
    return assembler.result().output;
  }

  const messages: Array<Record<string, unknown>> = [
    { content: '<think>2+2 is 4</think>The answer is 4.' },
    { content: '\n  <think>\n\nsteps\n</think>\n\nAnswer\n' },
    { content: 'Wrap it in <think>...</think> tags.' },
    { content: '<think>still thinking </thi' },
    { content: '<thi' },
    { content: '  ' },
    { content: '' },
    { reasoning_content: 'Field. ', content: '<think>Inline.</think>Hi' },
    { reasoning: 'Via reasoning.', content: '<think>\nmore</think> ok' },
    {
      content: '<think>need data</think>\n',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    },
  ];

  it.each(messages)('gives the same items for %j', (message) => {
    const whole = shape(decodeChatCompletion(completion(message)).output);
    for (const pieceSize of [1, 3, 1000]) {
      expect(shape(streamed(message, pieceSize))).toEqual(whole);
    }
  });
});
