import fc from 'fast-check';
import { fuzzParameters } from '../../../test/support/fuzz-budget';
import { decodeChatCompletion } from './openai-chat.decoder';
import { decodeChatStream } from './openai-chat.stream';
import {
  asBody,
  bodyText,
  cleanOrClassified,
  decodeTime,
  deliver,
  delivery,
  encodeFrames,
  type Frame,
  frameFate,
  oddText,
  Outcomes,
  readsOf,
} from './testing/fuzz-streams';
import { parseJsonBody } from './upstream-http';

// The Chat Completions codec against generated answers: whatever the upstream sends, the
// decoder yields a turn or a classified UpstreamError, promptly, at a cost linear in size.

function chunk(delta: Record<string, unknown>, finish: string | null = null): Frame {
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

const USAGE: Frame = {
  data: {
    id: 'chatcmpl-fuzz',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  },
};

const DONE: Frame = { data: '[DONE]', raw: true };

/** A well-formed stream: text deltas, then maybe tool calls (with or without ids), the end. */
const chatStream: fc.Arbitrary<Frame[]> = fc
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

const decode = (reads: readonly Uint8Array[]) => decodeChatStream(asBody(reads), () => undefined);

describe('openai-chat codec fuzzing', () => {
  it('decodes a generated stream, however delivered, or fails with an UpstreamError', async () => {
    const outcomes = new Outcomes();
    await fc.assert(
      fc.asyncProperty(
        chatStream.chain((frames) =>
          fc.tuple(
            fc.constant(frames),
            fc.array(frameFate, { minLength: frames.length, maxLength: frames.length }),
          ),
        ),
        delivery,
        async ([frames, fates], how) => {
          outcomes.add(
            await cleanOrClassified(() => decode(deliver(encodeFrames(frames, fates), how))),
          );
        },
      ),
      fuzzParameters(300),
    );
    outcomes.expectBoth();
  });

  it('decodes a generated whole body or fails with an UpstreamError', async () => {
    const outcomes = new Outcomes();
    const template = {
      id: 'chatcmpl-fuzz',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Hi \u0000 \uD800',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
    await fc.assert(
      fc.asyncProperty(bodyText(template), async (text) => {
        outcomes.add(await cleanOrClassified(() => decodeChatCompletion(parseJsonBody(text))));
      }),
      fuzzParameters(300),
    );
    outcomes.expectBoth();
  });

  it('decodes at a cost linear in the size of the answer', async () => {
    const stream = (n: number): string =>
      encodeFrames(
        [
          chunk({ role: 'assistant', content: 'x'.repeat(n * 64) }),
          ...Array.from({ length: n }, () => chunk({ content: 'ab' })),
          chunk({
            tool_calls: [
              { index: 0, id: 'c', type: 'function', function: { name: 'f', arguments: '' } },
            ],
          }),
          ...Array.from({ length: n }, () =>
            chunk({ tool_calls: [{ index: 0, function: { arguments: 'y' } }] }),
          ),
          chunk({}, 'stop'),
          DONE,
        ],
        [],
      );
    const small = await decodeTime(decode, readsOf(stream(500), 1000));
    const large = await decodeTime(decode, readsOf(stream(2000), 1000));
    // Four times the answer: about four times the time, far from sixteen.
    expect(large).toBeLessThan(small * 8 + 50);
  });
});
