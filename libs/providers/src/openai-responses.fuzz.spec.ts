import fc from 'fast-check';
import { fuzzParameters, fuzzTimeoutMs } from '../../../test/support/fuzz-budget';
import { decodeResponse } from './openai-responses.decoder';
import { decodeResponsesStream } from './openai-responses.stream';
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

// The Responses API codec against generated answers: whatever the upstream sends, the decoder
// yields a turn or a classified UpstreamError, promptly, at a cost linear in size.

type Fields = Record<string, unknown>;

function event(type: string, fields: Fields): Frame {
  return { event: type, data: { type, ...fields } };
}

function responseObject(status: string, output: unknown[]): Fields {
  return {
    id: 'resp_upstream',
    object: 'response',
    created_at: 1,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-test',
    output,
    usage:
      status === 'in_progress'
        ? null
        : {
            input_tokens: 3,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 2,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 5,
          },
  };
}

function message(id: string, text: string, status = 'completed'): Fields {
  return {
    id,
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [] }],
  };
}

function call(id: string, callId: string | null, name: string, args: string): Fields {
  return {
    id,
    type: 'function_call',
    status: 'completed',
    arguments: args,
    ...(callId === null ? {} : { call_id: callId }),
    name,
  };
}

/** A well-formed stream: a message streamed in pieces, maybe function calls, the end. */
const responsesStream: fc.Arbitrary<Frame[]> = fc
  .record({
    texts: fc.array(oddText, { maxLength: 6 }),
    calls: fc.array(
      fc.record({
        callId: fc.option(oddText, { freq: 4 }),
        name: oddText,
        pieces: fc.array(oddText, { maxLength: 3 }),
      }),
      { maxLength: 2 },
    ),
    status: fc.constantFrom('completed', 'incomplete', 'failed', 'weird'),
  })
  .map(({ texts, calls, status }) => {
    const text = texts.join('');
    const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
    const output = [
      message('msg_1', text),
      ...calls.map((c, i) => call(`fc_${i}`, c.callId, c.name, c.pieces.join(''))),
    ];
    return [
      event('response.created', { response: responseObject('in_progress', []) }),
      event('response.in_progress', { response: responseObject('in_progress', []) }),
      event('response.output_item.added', {
        output_index: 0,
        item: message('msg_1', '', 'in_progress'),
      }),
      event('response.content_part.added', {
        ...at,
        part: { type: 'output_text', text: '', annotations: [] },
      }),
      ...texts.map((delta) => event('response.output_text.delta', { ...at, delta, logprobs: [] })),
      event('response.output_text.done', { ...at, text, logprobs: [] }),
      event('response.output_item.done', { output_index: 0, item: output[0] }),
      ...calls.flatMap((c, i) => {
        const item = output[i + 1];
        return [
          event('response.output_item.added', {
            output_index: i + 1,
            item: { ...item, arguments: '', status: 'in_progress' },
          }),
          ...c.pieces.map((delta) =>
            event('response.function_call_arguments.delta', {
              item_id: `fc_${i}`,
              output_index: i + 1,
              delta,
            }),
          ),
          event('response.function_call_arguments.done', {
            item_id: `fc_${i}`,
            output_index: i + 1,
            arguments: c.pieces.join(''),
          }),
          event('response.output_item.done', { output_index: i + 1, item }),
        ];
      }),
      event(`response.${status === 'weird' ? 'completed' : status}`, {
        response: responseObject(status, output),
      }),
    ];
  });

const decode = (reads: readonly Uint8Array[]) =>
  decodeResponsesStream(asBody(reads), () => undefined);

describe('openai-responses codec fuzzing', () => {
  it(
    'decodes a generated stream, however delivered, or fails with an UpstreamError',
    () => expectStreamsDecodeOrClassify(responsesStream, decode, fuzzParameters(300)),
    fuzzTimeoutMs(15_000),
  );

  it(
    'decodes a generated whole body or fails with an UpstreamError',
    async () => {
      const outcomes = new Outcomes();
      const template = responseObject('completed', [
        message('msg_1', 'Hi \u0000 \uD800'),
        call('fc_1', 'call_1', 'f', '{}'),
      ]);
      await fc.assert(
        fc.asyncProperty(bodyText(template), async (text) => {
          outcomes.add(await cleanOrClassified(() => decodeResponse(parseJsonBody(text))));
        }),
        fuzzParameters(300),
      );
      outcomes.expectBoth();
    },
    fuzzTimeoutMs(15_000),
  );

  it('decodes at a cost linear in the size of the answer', async () => {
    const at = { item_id: 'msg_1', output_index: 0, content_index: 0 };
    const stream = (n: number): string =>
      encodeFrames(
        [
          event('response.created', { response: responseObject('in_progress', []) }),
          event('response.output_item.added', {
            output_index: 0,
            item: message('msg_1', '', 'in_progress'),
          }),
          event('response.output_text.delta', { ...at, delta: 'x'.repeat(n * 64), logprobs: [] }),
          ...Array.from({ length: n }, () =>
            event('response.output_text.delta', { ...at, delta: 'ab', logprobs: [] }),
          ),
          event('response.completed', {
            response: responseObject('completed', [message('msg_1', 'x')]),
          }),
        ],
        [],
      );
    const small = await decodeTime(decode, readsOf(stream(500), 1000));
    const large = await decodeTime(decode, readsOf(stream(2000), 1000));
    expect(large).toBeLessThan(small * 8 + 50);
  }, 30_000);
});
