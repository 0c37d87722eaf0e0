import {
  compactedOutput,
  COMPACTION_INSTRUCTIONS,
  COMPACTION_REQUEST,
  isSummaryCall,
  parseCompactRequest,
  summarisedItems,
  summaryCall,
} from './compact-request';
import { RatchetError } from './errors';
import { assistantMessage, type CompactionItem, type Item, type MessageItem } from './items';
import { modelItems } from './server-calls';
import { CALL, CALL_OUTPUT } from './testing/items';

const COMPACTION: CompactionItem = {
  type: 'compaction',
  id: 'cmp_1',
  encrypted_content: 'sealed',
  summary: 'They agreed on Tuesday.',
};

function message(role: MessageItem['role'], text: string, id = `msg_${role}`): MessageItem {
  return {
    type: 'message',
    id,
    role,
    status: 'completed',
    content: [{ type: 'input_text', text }],
  };
}

function thrown(run: () => unknown): RatchetError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RatchetError);
    return error as RatchetError;
  }
  throw new Error('expected a RatchetError');
}

describe('parseCompactRequest', () => {
  it('takes model, input, previous_response_id, instructions and prompt_cache_key', () => {
    const body = {
      model: 'mock',
      input: [{ role: 'user', content: 'hi' }],
      previous_response_id: 'resp_1',
      instructions: 'Be brief.',
      prompt_cache_key: 'key',
    };
    expect(parseCompactRequest(body)).toEqual({
      ...body,
      input: [{ type: 'message', role: 'user', content: 'hi' }],
    });
    expect(parseCompactRequest({ model: 'mock', input: 'hi' }).input).toBe('hi');
    expect(parseCompactRequest({ model: 'mock', input: null }).input).toBeNull();
  });

  it('requires model', () => {
    const error = thrown(() => parseCompactRequest({ input: 'hi' }));
    expect(error).toMatchObject({
      kind: 'invalid_request',
      param: 'model',
      code: 'missing_required_parameter',
    });
    expect(error.message).toBe("Missing required parameter: 'model'.");
  });

  it('names a field it does not know', () => {
    expect(thrown(() => parseCompactRequest({ model: 'm', stream: true }))).toMatchObject({
      param: 'stream',
      code: 'unknown_parameter',
    });
  });

  it('validates compaction items in input', () => {
    expect(
      thrown(() =>
        parseCompactRequest({ model: 'm', input: [{ type: 'compaction', id: 'cmp_1' }] }),
      ),
    ).toMatchObject({ param: 'input[0].encrypted_content', code: 'missing_required_parameter' });
    expect(
      thrown(() =>
        parseCompactRequest({
          model: 'm',
          input: [{ type: 'compaction', encrypted_content: 'x', summary: 'mine' }],
        }),
      ),
    ).toMatchObject({ param: 'input[0].summary', code: 'unknown_parameter' });
  });

  it('refuses a body that is not an object', () => {
    expect(thrown(() => parseCompactRequest([]))).toMatchObject({ code: 'invalid_body' });
  });

  it('refuses nesting too deep to serialise, naming the field', () => {
    const annotations = JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`) as unknown;
    const input = [
      { role: 'assistant', content: [{ type: 'output_text', text: 'x', annotations }] },
    ];
    expect(thrown(() => parseCompactRequest({ model: 'm', input }))).toMatchObject({
      param: expect.stringMatching(/^input\[0\]\.content\[0\]\.annotations(\[0\])+$/) as unknown,
      code: 'invalid_value',
    });
  });
});

describe('summaryCall', () => {
  const conversation: Item[] = [
    message('user', 'We launch on Tuesday.'),
    assistantMessage('msg_a', 'Noted.'),
    CALL,
    CALL_OUTPUT,
    COMPACTION,
  ];

  it('asks for a summary of the conversation as the model reads it, last', () => {
    const call = summaryCall(conversation, null);
    expect(call.instructions).toBe(COMPACTION_INSTRUCTIONS);
    expect(call.input).toEqual([
      ...modelItems(conversation),
      message('user', COMPACTION_REQUEST, 'msg_compaction_request'),
    ]);
    expect(isSummaryCall(call.instructions)).toBe(true);
    expect(summarisedItems(call.input)).toEqual(modelItems(conversation));
  });

  it("gives the model the conversation's own instructions as context", () => {
    const call = summaryCall(conversation, 'You are a launch planner.');
    expect(call.instructions.startsWith(COMPACTION_INSTRUCTIONS)).toBe(true);
    expect(call.instructions).toMatch(/under these instructions:\nYou are a launch planner\.$/);
    expect(isSummaryCall(call.instructions)).toBe(true);
  });

  it('is told apart from other calls', () => {
    expect(isSummaryCall(null)).toBe(false);
    expect(isSummaryCall('You are helpful.')).toBe(false);
    const input = [message('user', 'hi')];
    expect(summarisedItems(input)).toEqual(input);
  });
});

describe('compactedOutput', () => {
  it('keeps every user message verbatim, in order, then the compaction item alone', () => {
    const first = message('user', 'one', 'msg_1');
    const second: MessageItem = {
      ...message('user', 'two', 'msg_2'),
      content: [
        { type: 'input_text', text: 'two' },
        { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'auto' },
      ],
    };
    const conversation: Item[] = [
      message('system', 'Be kind.'),
      first,
      assistantMessage('msg_a', 'One.'),
      CALL,
      CALL_OUTPUT,
      COMPACTION,
      message('developer', 'Use metric units.'),
      second,
      assistantMessage('msg_b', 'Two.'),
    ];
    const compaction = { type: 'compaction' as const, id: 'cmp_new', encrypted_content: 'new' };
    expect(compactedOutput(conversation, compaction)).toEqual([first, second, compaction]);
  });
});
