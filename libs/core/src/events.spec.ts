import {
  AGENT_EVENT_TYPE,
  agentEvent,
  errorEvent,
  isTerminalEvent,
  responseEvent,
  RESPONSE_EVENT_TYPES,
  sequenceEvents,
  type StreamEventType,
  type UnsequencedEvent,
  type UnsequencedEventOf,
} from './events';
import { chunkText, itemEvents } from './item-events';
import { closeOpenItems, ItemStreamer, unannouncedRequests } from './item-streamer';
import {
  assistantMessage,
  type Item,
  type McpApprovalRequestItem,
  type MessageItem,
  type ReasoningItem,
} from './items';
import { openServerCall, settledServerCall } from './server-calls';
import { CALL, CALL_OUTPUT } from './testing/items';
import { assembleResponse, type ResponseObject, type ResponseStatus } from './response';
import { checkStream } from '../../../test/support/stream-checker';

/** The model step that made the calls in these tests. */
const STEP = 'step_model';

const REASONING: ReasoningItem = {
  type: 'reasoning',
  id: 'rs_1',
  summary: [{ type: 'summary_text', text: 'Weather lookup' }],
  content: [{ type: 'reasoning_text', text: 'The user wants Paris.' }],
  status: 'completed',
};

function response(status: ResponseStatus, output: Item[] = []): ResponseObject {
  const terminal = status !== 'queued' && status !== 'in_progress';
  return assembleResponse({
    id: 'resp_1',
    status,
    model: 'gpt-4o-mini',
    request: { model: 'gpt-4o-mini' },
    tools: [],
    output,
    error: null,
    incompleteDetails: null,
    usage: null,
    createdAt: new Date('2026-03-04T05:06:07Z'),
    completedAt: terminal ? new Date('2026-03-04T05:06:09Z') : null,
  });
}

/** A whole stream around the given item events, numbered as the event log would. */
function streamOf(body: UnsequencedEvent[], output: Item[]) {
  return sequenceEvents([
    responseEvent('response.created', response('in_progress')),
    responseEvent('response.in_progress', response('in_progress')),
    ...body,
    responseEvent('response.completed', response('completed', output)),
  ]);
}

const types = (events: readonly UnsequencedEvent[]): string[] => events.map((e) => e.type);

/** The first event of `type` among `events`. */
function eventOf<T extends StreamEventType>(
  events: readonly UnsequencedEvent[],
  type: T,
): UnsequencedEventOf<T> {
  const event = events.find((e): e is UnsequencedEventOf<T> => e.type === type);
  if (!event) throw new Error(`no ${type} event`);
  return event;
}

describe('itemEvents', () => {
  it('streams a message: item, part, one delta, done events, in spec order and shape', () => {
    const message = assistantMessage('msg_1', 'Hello world');
    expect(itemEvents(0, message)).toEqual([
      {
        type: 'response.output_item.added',
        output_index: 0,
        item: { ...message, status: 'in_progress', content: [] },
      },
      {
        type: 'response.content_part.added',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      },
      {
        type: 'response.output_text.delta',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta: 'Hello world',
        logprobs: [],
      },
      {
        type: 'response.output_text.done',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        text: 'Hello world',
        logprobs: [],
      },
      {
        type: 'response.content_part.done',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        part: message.content[0],
      },
      { type: 'response.output_item.done', output_index: 0, item: message },
    ]);
  });

  it('splits text into the chunks a splitter gives, dropping empty ones', () => {
    const message = assistantMessage('msg_1', 'Hello world');
    const deltas = itemEvents(2, message, { split: (text) => chunkText(text, 4) }).flatMap(
      (event) => (event.type === 'response.output_text.delta' ? [event.delta] : []),
    );
    expect(deltas).toEqual(['Hell', 'o wo', 'rld']);
    const empty = itemEvents(0, assistantMessage('msg_2', ''));
    expect(types(empty)).not.toContain('response.output_text.delta');
    expect(() => itemEvents(0, message, { split: () => ['nope'] })).toThrow(/join/);
  });

  it('never splits a surrogate pair', () => {
    expect(chunkText('a😀b', 2)).toEqual(['a😀', 'b']);
    expect(() => chunkText('abc', 0)).toThrow();
  });

  it('streams refusal parts and announces annotations before output_text.done', () => {
    const annotation = {
      type: 'url_citation',
      url: 'https://example.com',
      start_index: 0,
      end_index: 2,
      title: 'Example',
    };
    const message: MessageItem = {
      type: 'message',
      id: 'msg_1',
      role: 'assistant',
      status: 'completed',
      content: [
        { type: 'output_text', text: 'Hi', annotations: [annotation], logprobs: [] },
        { type: 'refusal', refusal: 'No.' },
      ],
    };
    const events = itemEvents(0, message);
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.annotation.added',
      'response.output_text.done',
      'response.content_part.done',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    expect(events[3]).toMatchObject({ annotation_index: 0, annotation });
    expect(events[6]).toMatchObject({ content_index: 1, part: { type: 'refusal', refusal: '' } });
    expect(events[8]).toMatchObject({ content_index: 1, refusal: 'No.' });
    expect(checkStream(streamOf(events, [message]))).toEqual([]);
  });

  it('streams a function call: empty arguments, delta, done with name, finished item', () => {
    expect(itemEvents(1, CALL)).toEqual([
      {
        type: 'response.output_item.added',
        output_index: 1,
        item: { ...CALL, arguments: '', status: 'in_progress' },
      },
      {
        type: 'response.function_call_arguments.delta',
        item_id: 'fc_1',
        output_index: 1,
        delta: CALL.arguments,
      },
      {
        type: 'response.function_call_arguments.done',
        item_id: 'fc_1',
        output_index: 1,
        arguments: CALL.arguments,
        name: 'get_weather',
      },
      { type: 'response.output_item.done', output_index: 1, item: CALL },
    ]);
  });

  it('opens and closes a function_call_output whole', () => {
    expect(itemEvents(2, CALL_OUTPUT)).toEqual([
      {
        type: 'response.output_item.added',
        output_index: 2,
        item: { ...CALL_OUTPUT, status: 'in_progress' },
      },
      { type: 'response.output_item.done', output_index: 2, item: CALL_OUTPUT },
    ]);
  });

  it('streams a reasoning item: summary parts, then reasoning_text parts', () => {
    const events = itemEvents(0, REASONING);
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.content_part.added',
      'response.reasoning.delta',
      'response.reasoning.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    expect(events[0]).toEqual({
      type: 'response.output_item.added',
      output_index: 0,
      item: { type: 'reasoning', id: 'rs_1', summary: [], content: [], status: 'in_progress' },
    });
    expect(events[1]).toMatchObject({ summary_index: 0, part: { type: 'summary_text', text: '' } });
    expect(events[3]).toMatchObject({ summary_index: 0, text: 'Weather lookup' });
    expect(events[5]).toMatchObject({
      content_index: 0,
      part: { type: 'reasoning_text', text: '' },
    });
    expect(events[7]).toMatchObject({ content_index: 0, text: 'The user wants Paris.' });
  });

  it('makes streams the strict checker accepts', () => {
    const message = assistantMessage('msg_1', 'It is sunny in Paris.');
    const output = [REASONING, CALL, CALL_OUTPUT, message];
    const split = (text: string) => chunkText(text, 3);
    const body = output.flatMap((item, i) => itemEvents(i, item, { split }));
    expect(checkStream(streamOf(body, output))).toEqual([]);
  });

  it('refuses to stream an unfinished item', () => {
    expect(() => itemEvents(0, assistantMessage('msg_1', 'x', 'in_progress'))).toThrow(
      /in_progress/,
    );
  });
});

describe('response events', () => {
  it('builds every lifecycle event with the response it carries', () => {
    expect(responseEvent('response.created', response('queued'))).toEqual({
      type: 'response.created',
      response: response('queued'),
    });
    expect(responseEvent('response.cancelled', response('cancelled')).type).toBe(
      'response.cancelled',
    );
  });

  it('refuses a response whose status does not match the event', () => {
    expect(() => responseEvent('response.completed', response('failed'))).toThrow(
      "response.completed cannot carry a response with status 'failed'",
    );
    expect(() => responseEvent('response.created', response('completed'))).toThrow();
    expect(() => responseEvent('response.queued', response('in_progress'))).toThrow();
  });

  it('builds the error event with all four payload keys', () => {
    expect(
      errorEvent({ type: 'server_error', code: null, message: 'upstream died', param: null }),
    ).toEqual({
      type: 'error',
      error: { type: 'server_error', code: null, message: 'upstream died', param: null },
    });
  });

  it('knows the terminal events', () => {
    expect(RESPONSE_EVENT_TYPES.filter((type) => isTerminalEvent(type))).toEqual([
      'response.completed',
      'response.failed',
      'response.incomplete',
      'response.cancelled',
    ]);
    expect(isTerminalEvent('error')).toBe(false);
    expect(isTerminalEvent('response.output_item.done')).toBe(false);
  });

  it('numbers events consecutively from where the log stands', () => {
    const numbered = sequenceEvents(itemEvents(0, CALL), 7);
    expect(numbered.map((event) => event.sequence_number)).toEqual([7, 8, 9, 10]);
  });
});

describe('ItemStreamer', () => {
  it('opens the item and the part exactly once, before the first delta', () => {
    const streamer = new ItemStreamer();
    const events = [
      ...streamer.textDelta(0, 'msg_1', ''),
      ...streamer.textDelta(0, 'msg_1', 'Hel'),
      ...streamer.textDelta(0, 'msg_1', 'lo'),
      ...streamer.textDelta(0, 'msg_1', ' world'),
    ];
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
    ]);
    expect(events[0]).toEqual({
      type: 'response.output_item.added',
      output_index: 0,
      item: { type: 'message', id: 'msg_1', role: 'assistant', status: 'in_progress', content: [] },
    });
    const message = assistantMessage('msg_1', 'Hello world');
    const closing = streamer.finish(0, message);
    expect(types(closing)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    expect(closing[0]).toMatchObject({ text: 'Hello world' });
    expect(closing[2]).toEqual({
      type: 'response.output_item.done',
      output_index: 0,
      item: message,
    });
    expect(checkStream(streamOf([...events, ...closing], [message]))).toEqual([]);
  });

  it("labels a streamed message with its phase from the first delta to the item's end", () => {
    const streamer = new ItemStreamer();
    const opening = streamer.textDelta(0, 'msg_1', 'Checking', 'commentary');
    expect(opening[0]).toEqual({
      type: 'response.output_item.added',
      output_index: 0,
      item: {
        type: 'message',
        id: 'msg_1',
        role: 'assistant',
        status: 'in_progress',
        content: [],
        phase: 'commentary',
      },
    });
    const message = { ...assistantMessage('msg_1', 'Checking'), phase: 'commentary' as const };
    const closing = streamer.finish(0, message);
    expect(closing.at(-1)).toMatchObject({ item: { phase: 'commentary' } });
    expect(checkStream(streamOf([...opening, ...closing], [message]))).toEqual([]);
  });

  it('announces a finished message with its phase', () => {
    const message = { ...assistantMessage('msg_1', 'Done.'), phase: 'final_answer' as const };
    const events = itemEvents(0, message);
    expect(events[0]).toMatchObject({ item: { phase: 'final_answer', content: [] } });
    expect(events.at(-1)).toMatchObject({ item: message });
  });

  it('sends text the finished item has beyond what streamed as a last delta', () => {
    const streamer = new ItemStreamer();
    streamer.textDelta(0, 'msg_1', 'Hello');
    const closing = streamer.finish(0, assistantMessage('msg_1', 'Hello world'));
    expect(closing[0]).toMatchObject({ type: 'response.output_text.delta', delta: ' world' });
  });

  it('refuses a finished item that contradicts what streamed', () => {
    const streamer = new ItemStreamer();
    streamer.textDelta(0, 'msg_1', 'Hello');
    expect(() => streamer.finish(0, assistantMessage('msg_1', 'Goodbye'))).toThrow(/contradicts/);
    expect(() => streamer.finish(0, assistantMessage('msg_2', 'Hello'))).toThrow(/msg_1/);
  });

  it('streams an item that had no deltas whole on finish', () => {
    const streamer = new ItemStreamer();
    expect(streamer.finish(3, CALL_OUTPUT)).toEqual(itemEvents(3, CALL_OUTPUT));
  });

  it('announces an item ahead of its content, which finish then streams whole', () => {
    const streamer = new ItemStreamer();
    const message = assistantMessage('msg_1', 'Hello');
    const announced = [...streamer.announce(0, message), ...streamer.announce(1, CALL)];
    expect(announced).toEqual([itemEvents(0, message)[0], itemEvents(1, CALL)[0]]);
    const finished = [...streamer.finish(0, message), ...streamer.finish(1, CALL)];
    expect(finished).toEqual([...itemEvents(0, message).slice(1), ...itemEvents(1, CALL).slice(1)]);
    expect(checkStream(streamOf([...announced, ...finished], [message, CALL]))).toEqual([]);
  });

  it('leaves an item that is streaming as it is when announced', () => {
    const streamer = new ItemStreamer();
    streamer.textDelta(0, 'msg_1', 'Hel');
    expect(streamer.announce(0, assistantMessage('msg_1', 'Hello'))).toEqual([]);
    expect(() => streamer.announce(0, CALL)).toThrow(/msg_1/);
  });

  it('tells whether finish would accept an item, without changing anything', () => {
    const streamer = new ItemStreamer();
    streamer.textDelta(0, 'msg_1', 'Hello');
    expect(streamer.accepts(0, assistantMessage('msg_1', 'Hello world'))).toBe(true);
    expect(streamer.accepts(0, assistantMessage('msg_1', 'Goodbye'))).toBe(false);
    expect(streamer.accepts(0, CALL)).toBe(false);
    expect(streamer.accepts(1, CALL)).toBe(true);
    streamer.finish(0, assistantMessage('msg_1', 'Hello world'));
    expect(streamer.accepts(0, assistantMessage('msg_1', 'Hello world'))).toBe(false);
  });

  it('closes one part before opening the next when the kind changes', () => {
    const streamer = new ItemStreamer();
    const events = [
      ...streamer.textDelta(0, 'msg_1', 'Sure'),
      ...streamer.refusalDelta(0, 'msg_1', 'No'),
    ];
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.content_part.added',
      'response.refusal.delta',
    ]);
    expect(events[5]).toMatchObject({ content_index: 1 });
  });

  it('streams function call arguments and closes with the finished call', () => {
    const streamer = new ItemStreamer();
    const identity = { call_id: 'call_1', name: 'get_weather' };
    const events = [
      ...streamer.argumentsDelta(1, 'fc_1', identity, '{"city":'),
      ...streamer.argumentsDelta(1, 'fc_1', identity, '"Paris"}'),
      ...streamer.finish(1, CALL),
    ];
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
    ]);
    expect(events[0]).toMatchObject({ item: { ...CALL, arguments: '', status: 'in_progress' } });
    expect(events[3]).toMatchObject({ arguments: CALL.arguments, name: 'get_weather' });
  });

  it('streams reasoning summaries by index and raw reasoning', () => {
    const streamer = new ItemStreamer();
    const item: ReasoningItem = {
      type: 'reasoning',
      id: 'rs_1',
      summary: [
        { type: 'summary_text', text: 'First' },
        { type: 'summary_text', text: 'Second' },
      ],
      content: [{ type: 'reasoning_text', text: 'raw' }],
      status: 'completed',
    };
    const events = [
      ...streamer.summaryDelta(0, 'rs_1', 0, 'Fir'),
      ...streamer.summaryDelta(0, 'rs_1', 0, 'st'),
      ...streamer.summaryDelta(0, 'rs_1', 1, 'Second'),
      ...streamer.reasoningDelta(0, 'rs_1', 'ra'),
      ...streamer.finish(0, item),
    ];
    expect(() => new ItemStreamer().summaryDelta(0, 'rs_2', 1, 'x')).toThrow(/neither/);
    expect(checkStream(streamOf(events, [item]))).toEqual([]);
    expect(types(events).filter((type) => type.endsWith('part.added'))).toEqual([
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_part.added',
      'response.content_part.added',
    ]);
  });

  it('closes an item that died mid-stream as incomplete, keeping its deltas', () => {
    const streamer = new ItemStreamer();
    const events = [
      ...streamer.textDelta(0, 'msg_1', 'Hel'),
      ...streamer.textDelta(0, 'msg_1', 'lo'),
    ];
    const closing = streamer.finishIncomplete(0);
    expect(closing).toEqual([
      {
        type: 'response.output_text.done',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        text: 'Hello',
        logprobs: [],
      },
      {
        type: 'response.content_part.done',
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        part: { type: 'output_text', text: 'Hello', annotations: [], logprobs: [] },
      },
      {
        type: 'response.output_item.done',
        output_index: 0,
        item: assistantMessage('msg_1', 'Hello', 'incomplete'),
      },
    ]);
    expect(streamer.openOutputIndexes()).toEqual([]);
    expect(() => streamer.textDelta(0, 'msg_1', 'more')).toThrow(/already closed/);
    // The retried attempt streams a new item; the output holds only the successful one.
    const retried = assistantMessage('msg_2', 'Hello again');
    const stream = streamOf([...events, ...closing, ...itemEvents(1, retried)], [retried]);
    expect(checkStream(stream)).toEqual([]);
  });

  it('closes every open item as incomplete, in output order', () => {
    const streamer = new ItemStreamer();
    const identity = { call_id: 'call_1', name: 'get_weather' };
    streamer.argumentsDelta(1, 'fc_1', identity, '{"ci');
    streamer.reasoningDelta(0, 'rs_1', 'hmm');
    const closing = streamer.finishAllIncomplete();
    expect(types(closing)).toEqual([
      'response.reasoning.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
    ]);
    expect(closing[2]).toMatchObject({
      item: {
        type: 'reasoning',
        id: 'rs_1',
        summary: [],
        content: [{ type: 'reasoning_text', text: 'hmm' }],
        status: 'incomplete',
      },
    });
    expect(closing[4]).toMatchObject({
      item: { ...CALL, arguments: '{"ci', status: 'incomplete' },
    });
    expect(new ItemStreamer().finishIncomplete(0)).toEqual([]);
  });

  it('refuses a delta for another item at an open output index', () => {
    const streamer = new ItemStreamer();
    streamer.textDelta(0, 'msg_1', 'a');
    expect(() => streamer.textDelta(0, 'msg_2', 'b')).toThrow(/msg_1/);
    expect(() => streamer.reasoningDelta(0, 'msg_1', 'b')).toThrow(/message/);
  });
});

/** One call on a streamer, returning the events it logs. */
type StreamerCall = (streamer: ItemStreamer) => UnsequencedEvent[];

const WEATHER = { call_id: 'call_1', name: 'get_weather' };

/**
 * Rebuilds a streamer from what `original` logged and checks that it stands where the original
 * does: the same items open, closed with the same events. Returns those events.
 */
function expectRebuiltLike(
  original: ItemStreamer,
  logged: readonly UnsequencedEvent[],
): UnsequencedEvent[] {
  const rebuilt = ItemStreamer.fromEvents(logged);
  expect(rebuilt.openOutputIndexes()).toEqual(original.openOutputIndexes());
  const closing = rebuilt.finishAllIncomplete();
  expect(closing).toEqual(original.finishAllIncomplete());
  return closing;
}

/** Makes `calls` on a new streamer; returns it and the events they logged, in order. */
function streamed(calls: readonly StreamerCall[]): {
  streamer: ItemStreamer;
  logged: UnsequencedEvent[];
} {
  const streamer = new ItemStreamer();
  return { streamer, logged: calls.flatMap((call) => call(streamer)) };
}

describe('ItemStreamer.fromEvents', () => {
  it('closes a message cut short in its text as the original streamer would', () => {
    const { streamer, logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Hel'),
      (s) => s.textDelta(0, 'msg_1', 'lo'),
    ]);
    const closing = expectRebuiltLike(streamer, logged);
    expect(closing.at(-1)).toEqual({
      type: 'response.output_item.done',
      output_index: 0,
      item: assistantMessage('msg_1', 'Hello', 'incomplete'),
    });
  });

  it('keeps a closed text part and the open refusal after it', () => {
    const { streamer, logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Sure'),
      (s) => s.refusalDelta(0, 'msg_1', 'No, '),
      (s) => s.refusalDelta(0, 'msg_1', 'sorry'),
    ]);
    const closing = expectRebuiltLike(streamer, logged);
    expect(types(closing)).toEqual([
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    expect(closing[2]).toMatchObject({
      item: {
        status: 'incomplete',
        content: [
          { type: 'output_text', text: 'Sure' },
          { type: 'refusal', refusal: 'No, sorry' },
        ],
      },
    });
  });

  it('rebuilds reasoning summaries by index and raw reasoning, whichever part is open', () => {
    const calls: StreamerCall[] = [
      (s) => s.summaryDelta(0, 'rs_1', 0, 'Fir'),
      (s) => s.summaryDelta(0, 'rs_1', 0, 'st'),
      (s) => s.summaryDelta(0, 'rs_1', 1, 'Sec'),
      (s) => s.reasoningDelta(0, 'rs_1', 'raw '),
      (s) => s.reasoningDelta(0, 'rs_1', 'thoughts'),
    ];
    for (let n = 1; n <= calls.length; n++) {
      const { streamer, logged } = streamed(calls.slice(0, n));
      expectRebuiltLike(streamer, logged);
    }
    const { streamer, logged } = streamed(calls);
    expect(expectRebuiltLike(streamer, logged).at(-1)).toEqual({
      type: 'response.output_item.done',
      output_index: 0,
      item: {
        type: 'reasoning',
        id: 'rs_1',
        summary: [
          { type: 'summary_text', text: 'First' },
          { type: 'summary_text', text: 'Sec' },
        ],
        content: [{ type: 'reasoning_text', text: 'raw thoughts' }],
        status: 'incomplete',
      },
    });
  });

  it('rebuilds function call arguments', () => {
    const { streamer, logged } = streamed([
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '{"ci'),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, 'ty":'),
    ]);
    const closing = expectRebuiltLike(streamer, logged);
    expect(closing).toEqual([
      {
        type: 'response.function_call_arguments.done',
        item_id: 'fc_1',
        output_index: 1,
        arguments: '{"city":',
        name: 'get_weather',
      },
      {
        type: 'response.output_item.done',
        output_index: 1,
        item: { ...CALL, arguments: '{"city":', status: 'incomplete' },
      },
    ]);
  });

  it('stands where the original does after every call of an interleaved stream', () => {
    const message = assistantMessage('msg_3', 'Hello world');
    const calls: StreamerCall[] = [
      (s) => s.summaryDelta(0, 'rs_1', 0, 'Weather'),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '{"city":'),
      (s) => s.summaryDelta(0, 'rs_1', 0, ' lookup'),
      (s) => s.textDelta(2, 'msg_3', 'Hello'),
      (s) => s.reasoningDelta(0, 'rs_1', 'The user wants Paris.'),
      (s) => s.finish(3, CALL_OUTPUT),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '"Paris"}'),
      (s) => s.finish(0, REASONING),
      (s) => s.refusalDelta(4, 'msg_4', 'I cannot'),
      (s) => s.finish(1, CALL),
      (s) => s.finish(2, message),
      (s) => s.refusalDelta(4, 'msg_4', ' say.'),
    ];
    // In output order; the output holds those that finished (the others close incomplete).
    const finished = [REASONING, CALL, message, CALL_OUTPUT];
    for (let n = 0; n <= calls.length; n++) {
      const { streamer, logged } = streamed(calls.slice(0, n));
      const closing = expectRebuiltLike(streamer, logged);
      const output = finished.filter((item) =>
        logged.some((e) => e.type === 'response.output_item.done' && e.item.id === item.id),
      );
      expect(checkStream(streamOf([...logged, ...closing], output))).toEqual([]);
    }
  });

  it('has nothing to close once every item finished', () => {
    const { logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Hi'),
      (s) => s.finish(0, assistantMessage('msg_1', 'Hi')),
      (s) => s.finish(1, CALL),
    ]);
    const rebuilt = ItemStreamer.fromEvents(logged);
    expect(rebuilt.openOutputIndexes()).toEqual([]);
    expect(rebuilt.finishAllIncomplete()).toEqual([]);
    expect(() => rebuilt.textDelta(0, 'msg_1', 'more')).toThrow(/already closed/);
    expect(() => rebuilt.finish(1, CALL)).toThrow(/already closed/);
  });

  it('goes on streaming exactly as the original would', () => {
    const { streamer, logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Hello'),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '{"city":'),
    ]);
    const rebuilt = ItemStreamer.fromEvents(logged);
    const more: StreamerCall[] = [
      (s) => s.textDelta(0, 'msg_1', ' wor'),
      (s) => s.refusalDelta(0, 'msg_1', 'No'),
      (s) => s.finish(1, CALL),
      (s) => s.summaryDelta(2, 'rs_2', 0, 'Hmm'),
    ];
    for (const call of more) expect(call(rebuilt)).toEqual(call(streamer));
    expect(() => rebuilt.finish(0, assistantMessage('msg_1', 'Hello world'))).toThrow(
      /more content parts streamed/,
    );
    expect(() => rebuilt.argumentsDelta(1, 'fc_1', WEATHER, 'x')).toThrow(/already closed/);
    expect(rebuilt.finishAllIncomplete()).toEqual(streamer.finishAllIncomplete());
  });

  it('takes logged events with their sequence numbers', () => {
    const { streamer, logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Hel'),
      (s) => s.reasoningDelta(1, 'rs_1', 'hmm'),
    ]);
    const rebuilt = ItemStreamer.fromEvents(sequenceEvents(logged, 42));
    expect(rebuilt.finishAllIncomplete()).toEqual(streamer.finishAllIncomplete());
  });

  it('takes a suffix of the log and ignores events of items announced before it', () => {
    const { streamer, logged } = streamed([
      (s) => s.textDelta(0, 'msg_1', 'Hel'),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '{"ci'),
      (s) => s.textDelta(0, 'msg_1', 'lo'),
      (s) => s.refusalDelta(0, 'msg_1', 'No'),
      (s) =>
        s.finish(0, {
          type: 'message',
          id: 'msg_1',
          role: 'assistant',
          status: 'completed',
          content: [
            { type: 'output_text', text: 'Hello', annotations: [], logprobs: [] },
            { type: 'refusal', refusal: 'No' },
          ],
        }),
      (s) => s.reasoningDelta(2, 'rs_1', 'hmm'),
    ]);
    // The log from the announcement of the first item still open (fc_1): msg_1's deltas,
    // part events and done follow, without its output_item.added.
    const first = logged.findIndex(
      (e) => e.type === 'response.output_item.added' && e.output_index === 1,
    );
    const suffix = logged.slice(first);
    expect(types(suffix)).toContain('response.output_text.delta');
    const rebuilt = ItemStreamer.fromEvents(suffix);
    expect(rebuilt.openOutputIndexes()).toEqual([1, 2]);
    // Its output_item.done still says output 0 is closed.
    expect(() => rebuilt.textDelta(0, 'msg_1', 'x')).toThrow(/already closed/);
    expect(rebuilt.finishAllIncomplete()).toEqual(streamer.finishAllIncomplete());
    // A suffix that starts inside an item's events ignores them rather than throwing.
    const inside = logged.findIndex((e) => e.type === 'response.output_text.delta') + 1;
    expect(() => ItemStreamer.fromEvents(logged.slice(inside))).not.toThrow();
  });

  it('skips lifecycle, error and sub-agent events', () => {
    const { streamer, logged } = streamed([(s) => s.textDelta(0, 'msg_1', 'Hi')]);
    const child = itemEvents(0, assistantMessage('msg_child', 'from the sub-agent'));
    const agent = { step_id: 'step_1', call_id: 'call_1', name: 'researcher', depth: 1 };
    const rebuilt = ItemStreamer.fromEvents([
      responseEvent('response.created', response('in_progress')),
      responseEvent('response.in_progress', response('in_progress')),
      ...logged,
      ...child.slice(0, 3).map((event) => agentEvent(agent, event)),
      errorEvent({ type: 'server_error', code: null, message: 'boom', param: null }),
    ]);
    expect(rebuilt.finishAllIncomplete()).toEqual(streamer.finishAllIncomplete());
  });

  it('closes an announced function_call_output, which no delta opens, with its output', () => {
    const [added] = itemEvents(2, CALL_OUTPUT);
    expect(ItemStreamer.fromEvents([added]).finishAllIncomplete()).toEqual([
      {
        type: 'response.output_item.done',
        output_index: 2,
        item: { ...CALL_OUTPUT, status: 'incomplete' },
      },
    ]);
    expect(ItemStreamer.fromEvents([added]).finish(2, CALL_OUTPUT)).toEqual([
      { type: 'response.output_item.done', output_index: 2, item: CALL_OUTPUT },
    ]);
  });

  it('refuses a log that contradicts the items it names', () => {
    const message = itemEvents(0, assistantMessage('msg_1', 'Hi'));
    const added = eventOf(message, 'response.output_item.added');
    const partAdded = eventOf(message, 'response.content_part.added');
    const delta = eventOf(message, 'response.output_text.delta');
    const partDone = eventOf(message, 'response.content_part.done');
    const replay = (events: UnsequencedEvent[]) => () => ItemStreamer.fromEvents(events);
    expect(replay([added, added])).toThrow(/cannot open there/);
    expect(replay([...message, added])).toThrow(/already closed/);
    expect(replay([added, { ...partAdded, item_id: 'msg_2' }])).toThrow(/not msg_2/);
    expect(replay([added, delta])).toThrow(/not the open part/);
    expect(replay([added, partAdded, partAdded])).toThrow(/out of order/);
    expect(replay([added, partAdded, { ...delta, content_index: 1 }])).toThrow(/not the open/);
    const refusal: UnsequencedEvent = {
      type: 'response.refusal.delta',
      item_id: 'msg_1',
      output_index: 0,
      content_index: 0,
      delta: 'No',
    };
    expect(replay([added, partAdded, refusal])).toThrow(/not the open part/);
    expect(replay([added, partAdded, partDone])).toThrow(/other text/);
    const reasoning = eventOf(itemEvents(0, REASONING), 'response.output_item.added');
    expect(replay([reasoning, { ...partAdded, item_id: 'rs_1' }])).toThrow(
      /no output_text part streams in a reasoning/,
    );
    const args: UnsequencedEvent = {
      type: 'response.function_call_arguments.delta',
      item_id: 'msg_1',
      output_index: 0,
      delta: '{',
    };
    expect(replay([added, args])).toThrow(/no arguments/);
  });
});

describe('unannouncedRequests', () => {
  const request = (id: string): McpApprovalRequestItem => ({
    type: 'mcp_approval_request',
    id,
    server_label: 'http',
    name: 'deploy',
    arguments: '{}',
  });

  it('streams the approval requests the log lacks, from the next output index', () => {
    const output: Item[] = [
      assistantMessage('msg_1', 'Asking.'),
      request('mcpr_1'),
      request('mcpr_2'),
    ];
    const events = unannouncedRequests(output, new Set(['msg_1', 'mcpr_1']), 2);
    expect(events).toEqual(itemEvents(2, request('mcpr_2')));
    expect(unannouncedRequests(output, new Set(['mcpr_1', 'mcpr_2']), 3)).toEqual([]);
  });
});

describe('closeOpenItems', () => {
  it('is what a streamer rebuilt from the log closes', () => {
    const { streamer, logged } = streamed([
      (s) => s.summaryDelta(0, 'rs_1', 0, 'Weather'),
      (s) => s.argumentsDelta(1, 'fc_1', WEATHER, '{"city":'),
    ]);
    const closing = closeOpenItems(sequenceEvents(logged));
    expect(closing).toEqual(streamer.finishAllIncomplete());
    expect(types(closing)).toEqual([
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.function_call_arguments.done',
      'response.output_item.done',
    ]);
    expect(checkStream(streamOf([...logged, ...closing], []))).toEqual([]);
  });

  it('closes a whole item cut short in its log', () => {
    const message = assistantMessage('msg_1', 'Hello world');
    const events = itemEvents(0, message, { split: (text) => chunkText(text, 4) });
    const cut = events.slice(0, 4);
    const closing = closeOpenItems(cut);
    expect(closing.at(-1)).toEqual({
      type: 'response.output_item.done',
      output_index: 0,
      item: assistantMessage('msg_1', 'Hello wo', 'incomplete'),
    });
    expect(checkStream(streamOf([...cut, ...closing], []))).toEqual([]);
  });

  it('closes nothing when nothing is open', () => {
    expect(closeOpenItems([])).toEqual([]);
    expect(closeOpenItems(itemEvents(0, REASONING))).toEqual([]);
  });

  it('finishes the open items the final output holds, as it has them; the rest incomplete', () => {
    const kept = assistantMessage('msg_1', 'Hello world');
    const streamedOnly = assistantMessage('msg_2', 'Goodbye');
    const split = { split: (text: string) => chunkText(text, 4) };
    const logged = [
      ...itemEvents(0, kept, split).slice(0, 4),
      ...itemEvents(1, streamedOnly, split).slice(0, 3),
    ];

    const closing = closeOpenItems(logged, [kept]);

    const done = closing.filter((event) => event.type === 'response.output_item.done');
    expect(done).toEqual([
      { type: 'response.output_item.done', output_index: 0, item: kept },
      {
        type: 'response.output_item.done',
        output_index: 1,
        item: assistantMessage('msg_2', 'Good', 'incomplete'),
      },
    ]);
    expect(checkStream(streamOf([...logged, ...closing], [kept]))).toEqual([]);
  });

  it('closes an item incomplete when the output contradicts what streamed', () => {
    const logged = itemEvents(0, assistantMessage('msg_1', 'Hello world'), {
      split: (text) => chunkText(text, 4),
    }).slice(0, 4);

    const closing = closeOpenItems(logged, [assistantMessage('msg_1', 'Something else')]);

    expect(closing.at(-1)).toEqual({
      type: 'response.output_item.done',
      output_index: 0,
      item: assistantMessage('msg_1', 'Hello wo', 'incomplete'),
    });
  });
});

describe('server calls (mcp_call items)', () => {
  const running = openServerCall(CALL, 'http', STEP);
  const done = settledServerCall(CALL, 'http', STEP, {
    status: 'completed',
    result: 'sunny',
    error: null,
  });
  const failed = settledServerCall(CALL, 'http', STEP, {
    status: 'failed',
    result: null,
    error: { code: 'tool_timeout', message: 'Too slow.' },
  });
  const identity = { call_id: CALL.call_id, name: CALL.name, server_label: 'http' };

  it('stream as OpenAI streams a hosted MCP call: arguments, in_progress, then how it ended', () => {
    const streamer = new ItemStreamer();
    const events = [
      ...streamer.serverCallDelta(0, running.id, identity, '{"city":'),
      ...streamer.serverCallDelta(0, running.id, identity, '"Paris"}'),
      ...streamer.startCall(0, running),
      ...streamer.finish(0, done),
    ];
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.mcp_call_arguments.delta',
      'response.mcp_call_arguments.delta',
      'response.mcp_call_arguments.done',
      'response.mcp_call.in_progress',
      'response.mcp_call.completed',
      'response.output_item.done',
    ]);
    expect(eventOf(events, 'response.output_item.added').item).toEqual({
      ...running,
      arguments: '',
    });
    expect(eventOf(events, 'response.mcp_call_arguments.done').arguments).toBe(CALL.arguments);
    expect(eventOf(events, 'response.output_item.done').item).toEqual(done);
    expect(checkStream(streamOf(events, [done]))).toEqual([]);
  });

  it('starts a call once: a second start logs nothing', () => {
    const streamer = new ItemStreamer();
    streamer.startCall(0, running);
    expect(streamer.startCall(0, running)).toEqual([]);
  });

  it('opens a call that never streamed when it starts', () => {
    const streamer = new ItemStreamer();
    const events = [...streamer.startCall(0, running), ...streamer.finish(0, failed)];
    expect(types(events)).toEqual([
      'response.output_item.added',
      'response.mcp_call_arguments.delta',
      'response.mcp_call_arguments.done',
      'response.mcp_call.in_progress',
      'response.mcp_call.failed',
      'response.output_item.done',
    ]);
    expect(checkStream(streamOf(events, [failed]))).toEqual([]);
  });

  it('closes a call that never ran without in_progress', () => {
    const notRun = settledServerCall(CALL, 'http', STEP, undefined);
    const events = itemEvents(0, notRun);
    expect(types(events)).not.toContain('response.mcp_call.in_progress');
    expect(checkStream(streamOf(events, [notRun]))).toEqual([]);
    const streamer = new ItemStreamer();
    const streamed = [
      ...streamer.serverCallDelta(0, running.id, identity, '{"ci'),
      ...streamer.finish(0, notRun),
    ];
    expect(types(streamed)).not.toContain('response.mcp_call.in_progress');
    expect(checkStream(streamOf(streamed, [notRun]))).toEqual([]);
  });

  it('refuses arguments that contradict what streamed, or change once the call started', () => {
    const streamer = new ItemStreamer();
    streamer.serverCallDelta(0, running.id, identity, '{"city":');
    expect(() => streamer.startCall(0, { ...running, arguments: '{"town":1}' })).toThrow(
      /contradict/,
    );
    streamer.startCall(0, running);
    expect(() => streamer.finish(0, { ...done, arguments: `${CALL.arguments} ` })).toThrow(
      /complete already/,
    );
  });

  it('is rebuilt from the log, and closes with the output that holds it', () => {
    const streamer = new ItemStreamer();
    const logged = [
      ...streamer.serverCallDelta(0, running.id, identity, '{"city":'),
      ...streamer.startCall(0, running),
    ];
    const rebuilt = ItemStreamer.fromEvents(logged);
    expect(rebuilt.openItems()).toEqual([{ outputIndex: 0, itemId: running.id }]);
    expect(rebuilt.finish(0, done)).toEqual(streamer.finish(0, done));
    const closing = closeOpenItems(logged, [done]);
    expect(types(closing)).toEqual(['response.mcp_call.completed', 'response.output_item.done']);
    expect(checkStream(streamOf([...logged, ...closing], [done]))).toEqual([]);
  });

  it('closes incomplete when cut short, before or after it started', () => {
    const before = new ItemStreamer();
    const cut = [
      ...before.serverCallDelta(0, running.id, identity, '{"ci'),
      ...before.finishIncomplete(0),
    ];
    expect(types(cut).slice(-2)).toEqual([
      'response.mcp_call_arguments.done',
      'response.output_item.done',
    ]);
    const after = new ItemStreamer();
    const started = [...after.startCall(0, running), ...after.finishIncomplete(0)];
    expect(types(started).slice(-2)).toEqual([
      'response.mcp_call.in_progress',
      'response.output_item.done',
    ]);
    expect(eventOf(started, 'response.output_item.done').item).toMatchObject({
      status: 'incomplete',
      arguments: CALL.arguments,
    });
    expect(checkStream(streamOf(started, []))).toEqual([]);
  });
});

describe('agentEvent', () => {
  const agent = { step_id: 'step_1', call_id: 'call_1', name: 'researcher', depth: 1 };

  it('wraps a sub-agent event under a namespaced type', () => {
    const [added] = itemEvents(0, CALL);
    const event: UnsequencedEvent = agentEvent(agent, added);
    expect(event).toEqual({ type: 'ratchet:agent.event', agent, event: added });
    expect(AGENT_EVENT_TYPE).toBe('ratchet:agent.event');
    expect(agentEvent({ ...agent, call_id: null }, added)).toMatchObject({
      agent: { call_id: null },
    });
  });

  it("drops the inner event's sequence number; the top-level log numbers the outer one", () => {
    const [added] = sequenceEvents(itemEvents(0, CALL), 9);
    const [numbered] = sequenceEvents([agentEvent(agent, added)], 3);
    expect(numbered).toEqual({
      type: 'ratchet:agent.event',
      sequence_number: 3,
      agent,
      event: itemEvents(0, CALL)[0],
    });
    expect(added.sequence_number).toBe(9);
  });

  it('is never terminal, even around a terminal event', () => {
    const event = agentEvent(agent, responseEvent('response.completed', response('completed')));
    expect(isTerminalEvent(event.type)).toBe(false);
  });

  it('nests for deeper scopes', () => {
    const inner = agentEvent(
      { ...agent, depth: 2 },
      errorEvent({
        type: 'server_error',
        code: null,
        message: 'boom',
        param: null,
      }),
    );
    expect(agentEvent(agent, inner)).toMatchObject({ event: { agent: { depth: 2 } } });
  });
});
