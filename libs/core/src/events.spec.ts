import {
  chunkText,
  errorEvent,
  isTerminalEvent,
  ItemStreamer,
  itemEvents,
  responseEvent,
  RESPONSE_EVENT_TYPES,
  sequenceEvents,
  type UnsequencedEvent,
} from './events';
import {
  assistantMessage,
  type FunctionCallItem,
  type FunctionCallOutputItem,
  type Item,
  type MessageItem,
  type ReasoningItem,
} from './items';
import { assembleResponse, type ResponseObject, type ResponseStatus } from './response';
import { checkStream } from '../../../test/support/stream-checker';

const CALL: FunctionCallItem = {
  type: 'function_call',
  id: 'fc_1',
  call_id: 'call_1',
  name: 'get_weather',
  arguments: '{"city":"Paris"}',
  status: 'completed',
};

const CALL_OUTPUT: FunctionCallOutputItem = {
  type: 'function_call_output',
  id: 'fco_1',
  call_id: 'call_1',
  output: 'sunny',
  status: 'completed',
};

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
