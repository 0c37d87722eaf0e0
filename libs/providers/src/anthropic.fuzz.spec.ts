import fc from 'fast-check';
import { fuzzParameters, fuzzTimeoutMs } from '../../../test/support/fuzz-budget';
import { decodeAnthropicMessage } from './anthropic.decoder';
import { AnthropicStreamDecoder } from './anthropic.stream-decoder';
import { sseEvents } from './sse-stream';
import {
  asBody,
  bodyText,
  cleanOrClassified,
  decodeTime,
  encodeFrames,
  expectStreamsDecodeOrClassify,
  type Frame,
  oddText,
  Outcomes,
  readsOf,
} from './testing/fuzz-streams';
import { parseJsonBody } from './upstream-http';

// The Anthropic Messages codec against generated answers: whatever the upstream sends, the
// decoder yields a turn or a classified UpstreamError, promptly, at a cost linear in size.

type Fields = Record<string, unknown>;

function event(data: { type: string } & Fields): Frame {
  return { event: data.type, data };
}

/** A well-formed stream: thinking, text in pieces, maybe tool uses, the end. */
const anthropicStream: fc.Arbitrary<Frame[]> = fc
  .record({
    thinking: fc.array(oddText, { maxLength: 3 }),
    texts: fc.array(oddText, { maxLength: 6 }),
    tools: fc.array(
      fc.record({
        id: fc.option(oddText, { freq: 4 }),
        name: oddText,
        pieces: fc.array(oddText, { maxLength: 3 }),
      }),
      { maxLength: 2 },
    ),
    stop: fc.constantFrom('end_turn', 'tool_use', 'max_tokens', 'refusal', 'weird'),
  })
  .map(({ thinking, texts, tools, stop }) => [
    event({
      type: 'message_start',
      message: {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        usage: { input_tokens: 2, output_tokens: 1 },
      },
    }),
    event({ type: 'ping' }),
    event({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    }),
    ...thinking.map((piece) =>
      event({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: piece },
      }),
    ),
    event({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'signature_delta', signature: 'sig' },
    }),
    event({ type: 'content_block_stop', index: 0 }),
    event({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
    ...texts.map((text) =>
      event({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text } }),
    ),
    event({ type: 'content_block_stop', index: 1 }),
    ...tools.flatMap((tool, i) => [
      event({
        type: 'content_block_start',
        index: i + 2,
        content_block: {
          type: 'tool_use',
          ...(tool.id === null ? {} : { id: tool.id }),
          name: tool.name,
          input: {},
        },
      }),
      ...tool.pieces.map((partial_json) =>
        event({
          type: 'content_block_delta',
          index: i + 2,
          delta: { type: 'input_json_delta', partial_json },
        }),
      ),
      event({ type: 'content_block_stop', index: i + 2 }),
    ]),
    event({
      type: 'message_delta',
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: 4 },
    }),
    event({ type: 'message_stop' }),
  ]);

async function decode(reads: readonly Uint8Array[]): Promise<unknown> {
  const decoder = new AnthropicStreamDecoder(() => undefined, 'claude-test');
  for await (const message of sseEvents(asBody(reads))) decoder.push(message.data);
  return decoder.finish();
}

describe('anthropic codec fuzzing', () => {
  it(
    'decodes a generated stream, however delivered, or fails with an UpstreamError',
    () => expectStreamsDecodeOrClassify(anthropicStream, decode, fuzzParameters(300)),
    fuzzTimeoutMs(15_000),
  );

  it(
    'decodes a generated whole body or fails with an UpstreamError',
    async () => {
      const outcomes = new Outcomes();
      const template = {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        model: 'claude-test',
        content: [
          { type: 'thinking', thinking: 'hmm \u0000', signature: 'sig' },
          { type: 'text', text: 'Hi \uD800' },
          { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 2, output_tokens: 3 },
      };
      await fc.assert(
        fc.asyncProperty(bodyText(template), async (text) => {
          outcomes.add(
            await cleanOrClassified(() =>
              decodeAnthropicMessage(parseJsonBody(text), 'claude-test'),
            ),
          );
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
          event({
            type: 'message_start',
            message: { id: 'm', type: 'message', role: 'assistant', content: [], usage: {} },
          }),
          event({
            type: 'content_block_start',
            index: 0,
            content_block: { type: 'text', text: '' },
          }),
          event({
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: 'x'.repeat(n * 64) },
          }),
          ...Array.from({ length: n }, () =>
            event({
              type: 'content_block_delta',
              index: 0,
              delta: { type: 'text_delta', text: 'ab' },
            }),
          ),
          event({ type: 'content_block_stop', index: 0 }),
          event({
            type: 'content_block_start',
            index: 1,
            content_block: { type: 'tool_use', id: 't', name: 'f', input: {} },
          }),
          ...Array.from({ length: n }, (_, i) =>
            event({
              type: 'content_block_delta',
              index: 1,
              delta: { type: 'input_json_delta', partial_json: i === 0 ? '{"a":"' : 'y' },
            }),
          ),
          event({
            type: 'content_block_delta',
            index: 1,
            delta: { type: 'input_json_delta', partial_json: '"}' },
          }),
          event({ type: 'content_block_stop', index: 1 }),
          event({ type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: {} }),
          event({ type: 'message_stop' }),
        ],
        [],
      );
    const small = await decodeTime(decode, readsOf(stream(500), 1000));
    const large = await decodeTime(decode, readsOf(stream(2000), 1000));
    expect(large).toBeLessThan(small * 8 + 50);
  }, 30_000);
});
