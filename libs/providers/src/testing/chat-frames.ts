import fc from 'fast-check';
import { type Frame, oddText } from './fuzz-streams';

// Generated Chat Completions streams, for the codec fuzz spec and the end-to-end one.

/** One chunk of a chat completion stream. */
export function chunk(delta: Record<string, unknown>, finish: string | null = null): Frame {
  return {
    data: {
      id: 'chatcmpl-fuzz',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index: 0, delta, finish_reason: finish }],
    },
  };
}

export const USAGE: Frame = {
  data: {
    id: 'chatcmpl-fuzz',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  },
};

export const DONE: Frame = { data: '[DONE]', raw: true };

/** A well-formed stream: text deltas, then maybe tool calls (with or without ids), the end. */
export const chatStream: fc.Arbitrary<Frame[]> = fc
  .record({
    texts: fc.array(oddText, { maxLength: 6 }),
    calls: fc.array(
      fc.record({
        id: fc.option(oddText),
        name: oddText,
        pieces: fc.array(oddText, { maxLength: 3 }),
      }),
      { maxLength: 2 },
    ),
    finish: fc.constantFrom('stop', 'length', 'tool_calls', 'content_filter', 'weird'),
  })
  .map(({ texts, calls, finish }) => [
    chunk({ role: 'assistant', content: '' }),
    ...texts.map((content) => chunk({ content })),
    ...calls.flatMap((call, index) => [
      chunk({
        tool_calls: [
          {
            index,
            ...(call.id === null ? {} : { id: call.id }),
            type: 'function',
            function: { name: call.name, arguments: '' },
          },
        ],
      }),
      ...call.pieces.map((piece) =>
        chunk({ tool_calls: [{ index, function: { arguments: piece } }] }),
      ),
    ]),
    chunk({}, finish),
    USAGE,
    DONE,
  ]);
