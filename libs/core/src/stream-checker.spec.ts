import {
  errorEvent,
  responseEvent,
  sequenceEvents,
  type ResponseStreamEvent,
  type UnsequencedEvent,
} from './events';
import { chunkText, itemEvents } from './item-events';
import { ItemStreamer } from './item-streamer';
import { assistantMessage, type Item, type ReasoningItem } from './items';
import { settledServerCall } from './server-calls';
import { CALL, CALL_OUTPUT } from './testing/items';
import { assembleResponse, type ResponseObject, type ResponseStatus } from './response';
import { RESPONSE_RESOURCE_KEYS } from '../../../test/support/open-responses';
import {
  checkSse,
  checkStream,
  eventsFromSse,
  jsonEqual,
  RESPONSE_FIELDS,
  sseBody,
} from '../../../test/support/stream-checker';

/** The model step that made the calls in these tests. */
const STEP = 'step_model';

const REASONING: ReasoningItem = {
  type: 'reasoning',
  id: 'rs_1',
  summary: [{ type: 'summary_text', text: 'Weather lookup' }],
  status: 'completed',
};
const ANSWER = assistantMessage('msg_1', 'It is sunny in Paris.');
const OUTPUT: Item[] = [REASONING, CALL, CALL_OUTPUT, ANSWER];

function response(status: ResponseStatus, output: Item[] = []): ResponseObject {
  const terminal = status !== 'queued' && status !== 'in_progress';
  return assembleResponse({
    id: 'resp_1',
    status,
    model: 'gpt-4o-mini',
    request: { model: 'gpt-4o-mini', background: true },
    tools: [],
    output,
    error: status === 'failed' ? { code: 'server_error', message: 'upstream died' } : null,
    incompleteDetails: null,
    usage: null,
    createdAt: new Date('2026-03-04T05:06:07Z'),
    completedAt: terminal ? new Date('2026-03-04T05:06:09Z') : null,
  });
}

/** created, in_progress, the body, completed: numbered from 0. */
function streamOf(body: UnsequencedEvent[], output: Item[] = OUTPUT): ResponseStreamEvent[] {
  return sequenceEvents([
    responseEvent('response.created', response('in_progress')),
    responseEvent('response.in_progress', response('in_progress')),
    ...body,
    responseEvent('response.completed', response('completed', output)),
  ]);
}

const body = (items: Item[] = OUTPUT): UnsequencedEvent[] =>
  items.flatMap((item, i) => itemEvents(i, item, { split: (text) => chunkText(text, 5) }));

/** The valid stream as plain JSON, which tests then break one way at a time. */
function validJson(): Record<string, unknown>[] {
  return JSON.parse(JSON.stringify(streamOf(body()))) as Record<string, unknown>[];
}

/** Renumbers events from 0, so an edit shows only the violation it is meant to cause. */
function renumber(events: Record<string, unknown>[]): Record<string, unknown>[] {
  return events.map((event, i) => ({ ...event, sequence_number: i }));
}

const indexOf = (events: Record<string, unknown>[], type: string): number =>
  events.findIndex((event) => event.type === type);

describe('checkStream accepts valid streams', () => {
  it('a completed response with reasoning, a call, its output and an answer', () => {
    expect(checkStream(validJson())).toEqual([]);
  });

  it('a background response: created (queued), queued, in_progress, ..., completed', () => {
    const events = sequenceEvents([
      responseEvent('response.created', response('queued')),
      responseEvent('response.queued', response('queued')),
      responseEvent('response.in_progress', response('in_progress')),
      ...body([ANSWER]),
      responseEvent('response.completed', response('completed', [ANSWER])),
    ]);
    expect(checkStream(events)).toEqual([]);
  });

  it('a failed response whose error event precedes response.failed', () => {
    const streamer = new ItemStreamer();
    const events = sequenceEvents([
      responseEvent('response.created', response('in_progress')),
      ...streamer.textDelta(0, 'msg_1', 'It is'),
      ...streamer.finishAllIncomplete(),
      errorEvent({ type: 'server_error', code: null, message: 'upstream died', param: null }),
      responseEvent('response.failed', response('failed')),
    ]);
    expect(checkStream(events)).toEqual([]);
  });

  it('a cancelled response', () => {
    const events = sequenceEvents([
      responseEvent('response.created', response('queued')),
      responseEvent('response.cancelled', response('cancelled')),
    ]);
    expect(checkStream(events)).toEqual([]);
  });

  it('a retried model step: the dead attempt closes incomplete and stays out of the output', () => {
    const streamer = new ItemStreamer();
    const events = streamOf(
      [
        ...streamer.textDelta(0, 'msg_dead', 'It is su'),
        ...streamer.finishIncomplete(0),
        ...streamer.textDelta(1, 'msg_1', 'It is sunny'),
        ...streamer.finish(1, ANSWER),
      ],
      [ANSWER],
    );
    expect(checkStream(events)).toEqual([]);
  });

  it('a server call: its mcp_call item opens, runs, and closes with its output', () => {
    const streamer = new ItemStreamer();
    const settled = settledServerCall(CALL, 'http', STEP, {
      status: 'completed',
      result: 'sunny',
      error: null,
    });
    const events = streamOf(
      [
        ...streamer.serverCallDelta(0, settled.id, settled, '{"city":'),
        ...streamer.startCall(0, { ...settled, status: 'in_progress', output: null }),
        ...streamer.finish(0, settled),
        ...streamer.textDelta(1, 'msg_1', 'It is sunny in Paris.'),
        ...streamer.finish(1, ANSWER),
      ],
      [settled, ANSWER],
    );
    expect(checkStream(events)).toEqual([]);
  });

  it('its own SSE framing, with comments and CRLF line ends', () => {
    const text = `: heartbeat\r\n\r\n${sseBody(validJson()).replaceAll('\n', '\r\n')}`;
    expect(checkSse(text)).toEqual([]);
    expect(eventsFromSse(text).events).toEqual(validJson());
  });
});

describe('checkStream reports each violation clearly', () => {
  it('a gap in sequence numbers', () => {
    const events = validJson();
    events.splice(3, 1);
    expect(checkStream(events)).toContain(
      '#3 response.reasoning_summary_text.delta: gap in sequence_number: 2 is followed by 4, expected 3',
    );
  });

  it('a duplicate sequence number', () => {
    const events = validJson();
    events[4].sequence_number = 3;
    expect(checkStream(events)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^#4 .*: duplicate sequence_number 3$/)]),
    );
  });

  it('numbers that do not start at 0, or go down', () => {
    const shifted = validJson().map((e, i) => ({ ...e, sequence_number: i + 1 }));
    expect(checkStream(shifted)).toEqual([
      '#0 response.created: sequence_number must start at 0, got 1',
    ]);
    const events = validJson();
    events[5].sequence_number = 1;
    expect(checkStream(events)).toContainEqual(
      expect.stringContaining('sequence_number 1 is lower than the previous 4'),
    );
  });

  it('a missing response.created', () => {
    const events = renumber(validJson().slice(1));
    expect(checkStream(events)).toContain(
      '#0 response.in_progress: the first event must be response.created',
    );
  });

  it('a delta after its done event', () => {
    const events = validJson();
    const done = indexOf(events, 'response.output_text.done');
    const delta = { ...events[done - 1] };
    events.splice(done + 1, 0, delta);
    const violations = checkStream(renumber(events));
    expect(violations).toContain(
      `#${done + 1} response.output_text.delta: response.output_text.delta after response.output_text.done`,
    );
  });

  it('a delta after the item is done', () => {
    const events = validJson();
    const done = indexOf(events, 'response.output_item.done');
    events.splice(done + 1, 0, { ...events[done - 2] });
    expect(checkStream(renumber(events))).toContain(
      `#${done + 1} response.reasoning_summary_text.done: item rs_1 already got output_item.done`,
    );
  });

  it('done text that is not the concatenation of its deltas', () => {
    const events = validJson();
    const done = indexOf(events, 'response.output_text.done');
    events[done].text = 'It is rainy in Paris.';
    expect(checkStream(events)).toContain(
      `#${done} response.output_text.done: text "It is rainy in Paris." is not the concatenation of its deltas "It is sunny in Paris."`,
    );
  });

  it('function call arguments that are not the concatenation of their deltas', () => {
    const events = validJson();
    const done = indexOf(events, 'response.function_call_arguments.done');
    events[done].arguments = '{}';
    expect(checkStream(events)).toContainEqual(
      expect.stringContaining('arguments "{}" are not the concatenation of its deltas'),
    );
  });

  it('a terminal event that is not last', () => {
    const events = validJson();
    const terminal = events.pop() as Record<string, unknown>;
    events.splice(5, 0, terminal);
    const violations = checkStream(renumber(events));
    expect(violations).toContain(
      `${events.length - 6} event(s) after the terminal event #5 response.completed, the first #6 response.reasoning_summary_text.delta`,
    );
    expect(violations).toContain('#5 response.completed: item rs_1 (output_index 0) is still open');
  });

  it('a stream without a terminal event', () => {
    const events = validJson().slice(0, -1);
    expect(checkStream(events)).toEqual([
      'the stream has no terminal event (response.completed|response.failed|response.incomplete|response.cancelled)',
    ]);
  });

  it('a terminal output that is not the items streamed', () => {
    const missing = validJson();
    const terminal = missing[missing.length - 1];
    (terminal.response as { output: unknown[] }).output.splice(2, 1);
    expect(checkStream(missing)).toContain(
      `#${missing.length - 1} response.completed: response.output ["rs_1","fc_1","msg_1"] is not the output_item.done items in output_index order ["rs_1","fc_1","fco_1","msg_1"]`,
    );
    const changed = validJson();
    const output = (changed[changed.length - 1].response as { output: { output?: string }[] })
      .output;
    output[2].output = 'rainy';
    expect(checkStream(changed)).toContainEqual(
      expect.stringContaining('response.output[2] differs from its output_item.done item'),
    );
  });

  it('a terminal response whose status does not match the event', () => {
    const events = validJson();
    (events[events.length - 1].response as { status: string }).status = 'failed';
    expect(checkStream(events)).toContainEqual(
      expect.stringContaining('response.status is "failed", expected completed'),
    );
  });

  it('missing or mistyped required fields', () => {
    const events = validJson();
    const delta = indexOf(events, 'response.output_text.delta');
    delete events[delta].item_id;
    events[delta].output_index = '3';
    delete (events[0].response as Record<string, unknown>).usage;
    const violations = checkStream(events);
    expect(violations).toContain('#0 response.created: event.response.usage is missing');
    expect(violations).toContain(`#${delta} response.output_text.delta: event.item_id is missing`);
    expect(violations).toContain(
      `#${delta} response.output_text.delta: event.output_index must be an integer, got string`,
    );
  });

  it('an event type the spec does not define', () => {
    const events = validJson();
    events[1].type = 'response.thinking';
    expect(checkStream(events)).toContain('#1 response.thinking: not an Open Responses event type');
  });

  it('output indexes out of order', () => {
    const events = streamOf([...itemEvents(1, ANSWER)], [ANSWER]);
    expect(checkStream(events)).toContain(
      '#2 response.output_item.added: output_index 1 is out of order: expected 0 (indexes run 0..n-1 in order of first appearance)',
    );
  });

  it('a part that opens while another is open', () => {
    const two = { ...ANSWER, content: [...ANSWER.content, ...ANSWER.content] };
    const events = itemEvents(0, two);
    const secondAdded = events.findLastIndex((e) => e.type === 'response.content_part.added');
    const firstDone = events.findIndex((e) => e.type === 'response.content_part.done');
    // Move the second part's opening before the first part closes.
    const [added] = events.splice(secondAdded, 1);
    events.splice(firstDone, 0, added);
    expect(checkStream(streamOf(events, [two]))).toContainEqual(
      expect.stringContaining('part 1 opens while content part 0 of item msg_1 is still open'),
    );
  });

  it('an item closed without its arguments being done', () => {
    const events = itemEvents(0, CALL).filter(
      (e) => e.type !== 'response.function_call_arguments.done',
    );
    expect(checkStream(streamOf(events, [CALL]))).toContain(
      '#4 response.output_item.done: function_call fc_1 is done without function_call_arguments.done',
    );
  });

  it('a server call that ends before it started, or says otherwise than its events', () => {
    const failed = settledServerCall(CALL, 'http', STEP, {
      status: 'failed',
      result: null,
      error: { code: 'tool_error', message: 'Down.' },
    });
    const events = itemEvents(0, failed).filter(
      (event) => event.type !== 'response.mcp_call.in_progress',
    );
    expect(checkStream(streamOf(events, [failed]))).toContain(
      '#5 response.mcp_call.failed: mcp_call.failed for a call that is not running (pending)',
    );
    const lying = itemEvents(0, failed).map((event) =>
      event.type === 'response.output_item.done'
        ? { ...event, item: { ...failed, status: 'completed' as const, output: 'fine' } }
        : event,
    );
    expect(checkStream(streamOf(lying, [failed]))).toContain(
      '#7 response.output_item.done: mcp_call mcp_model_1 is done with status "completed", but its events say failed',
    );
  });

  it('response.queued after response.in_progress, and an error not followed by failed', () => {
    const events = sequenceEvents([
      responseEvent('response.created', response('queued')),
      responseEvent('response.in_progress', response('in_progress')),
      responseEvent('response.queued', response('queued')),
      errorEvent({ type: 'server_error', code: null, message: 'boom', param: null }),
      responseEvent('response.completed', response('completed')),
    ]);
    expect(checkStream(events)).toEqual([
      '#2 response.queued: response.queued after response.in_progress',
      '#3 error: an error event must be followed by response.failed, got response.completed',
    ]);
  });
});

describe('eventsFromSse', () => {
  it('reports an event name that differs from data.type', () => {
    const text = sseBody(validJson()).replace(
      'event: response.in_progress\n',
      'event: response.progress\n',
    );
    expect(eventsFromSse(text).violations).toEqual([
      'SSE event #1: event: \'response.progress\' does not equal data.type "response.in_progress"',
    ]);
  });

  it('reports a stream without data: [DONE]', () => {
    const text = sseBody(validJson()).replace('data: [DONE]\n\n', '');
    const { events, violations } = eventsFromSse(text);
    expect(violations).toEqual(['the stream does not end with data: [DONE]']);
    expect(events).toHaveLength(validJson().length);
  });

  it('stops at [DONE] and reports anything after it', () => {
    const text = `${sseBody(validJson())}event: error\ndata: {"type":"error"}\n\n`;
    const { events, violations } = eventsFromSse(text);
    expect(events).toEqual(validJson());
    expect(violations).toEqual([`SSE event #${validJson().length + 1}: sent after data: [DONE]`]);
  });

  it('reports a missing event: line, multi-line data, bad JSON and an unterminated event', () => {
    const text =
      'data: {"type":"response.created",\ndata: "x":1}\n\n' +
      'event: response.in_progress\ndata: {oops\n\n' +
      'data: [DONE]\n\nevent: error\ndata: {}';
    expect(eventsFromSse(text).violations).toEqual([
      'SSE event #0: data spans 2 lines; send each JSON payload on one',
      'SSE event #0: no event: line (it must equal data.type "response.created")',
      'SSE event #1: data is not JSON: {oops',
      'the body ends inside an event (no blank line after it), which clients drop',
    ]);
  });

  it('feeds its events to checkStream through checkSse', () => {
    const events = validJson();
    events.splice(1, 1);
    expect(checkSse(sseBody(events))).toContainEqual(
      expect.stringContaining('gap in sequence_number: 0 is followed by 2'),
    );
  });
});

describe('checker tables', () => {
  it('knows exactly the 31 ResponseResource keys', () => {
    expect(Object.keys(RESPONSE_FIELDS)).toEqual(RESPONSE_RESOURCE_KEYS);
  });

  it('compares as JSON does', () => {
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(jsonEqual([1, { a: [2] }], [1, { a: [2] }])).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(jsonEqual([1], { 0: 1 })).toBe(false);
  });
});
