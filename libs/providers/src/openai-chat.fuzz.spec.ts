import fc from 'fast-check';
import { fuzzParameters, fuzzTimeoutMs } from '../../../test/support/fuzz-budget';
import { decodeChatCompletion } from './openai-chat.decoder';
import { decodeChatStream } from './openai-chat.stream';
import {
  asBody,
  bodyText,
  cleanOrClassified,
  decodeTime,
  encodeFrames,
  expectStreamsDecodeOrClassify,
  Outcomes,
  readsOf,
} from './testing/fuzz-streams';
import { chatStream, chunk, DONE } from './testing/chat-frames';
import { parseJsonBody } from './upstream-http';

// The Chat Completions codec against generated answers: whatever the upstream sends, the
// decoder yields a turn or a classified UpstreamError, promptly, at a cost linear in size.

const decode = (reads: readonly Uint8Array[]) => decodeChatStream(asBody(reads), () => undefined);

describe('openai-chat codec fuzzing', () => {
  it(
    'decodes a generated stream, however delivered, or fails with an UpstreamError',
    () => expectStreamsDecodeOrClassify(chatStream, decode, fuzzParameters(300)),
    fuzzTimeoutMs(15_000),
  );

  it(
    'decodes a generated whole body or fails with an UpstreamError',
    async () => {
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
    },
    fuzzTimeoutMs(15_000),
  );

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
  }, 30_000);
});
