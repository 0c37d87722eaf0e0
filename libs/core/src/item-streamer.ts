import type { ContentPart, Item, McpCallItem, MessagePhase } from './items';
import {
  AGENT_EVENT_TYPE,
  type ReasoningTextPart,
  type ResponseStreamEvent,
  type StreamContentPart,
  type SummaryTextPart,
  type UnsequencedEvent,
} from './events';
import {
  argumentsDone,
  assertFinished,
  callArgumentsDelta,
  callEnded,
  callStarted,
  isTextPart,
  itemAdded,
  itemDone,
  itemEvents,
  listingEvents,
  openingItem,
  partAdded,
  partClosed,
  partDelta,
  type PartLocation,
  partText,
  partWithText,
  reasoningSkeleton,
  type TextPart,
  textPartEvents,
  type TextPartKind,
  wholeText,
} from './item-events';

// An item streamed as its deltas arrive: `ItemStreamer` turns a model's deltas into the
// spec-ordered events that `itemEvents` (item-events.ts) builds for a whole item, and rebuilds
// itself from a logged stream, so that another process can close what a dead one left open.
// `closeOpenItems` and `unannouncedRequests` finish such a log.

interface StreamedPart {
  kind: TextPartKind;
  text: string;
}

/** Which of an item's part lists a part lives in; each has its own index sequence. */
type PartArea = 'content' | 'summary';

const areaOf = (kind: TextPartKind): PartArea => (kind === 'summary_text' ? 'summary' : 'content');

interface OpenItem {
  outputIndex: number;
  /**
   * What output_item.added announced. Deltas never open a function_call_output; only a
   * replayed log (fromEvents) can hold one announced and not yet done.
   */
  opening: Item;
  content: StreamedPart[];
  summary: StreamedPart[];
  /** The part taking deltas (always the last of its area's list), if any. */
  openArea: PartArea | null;
  arguments: string;
  /** A server call whose arguments are complete: it runs, and stays open until it ends. */
  started: boolean;
}

/** Where a logged item-level event points: an output index and the item it names there. */
type ItemEventLocation = { output_index: number } & ({ item: Item } | { item_id: string });
type PartEventLocation = { output_index: number; item_id: string };

export interface FunctionCallIdentity {
  call_id: string;
  name: string;
}

/** A call ratchet runs itself: what its item needs to open before its arguments stream. */
export interface ServerCallIdentity extends FunctionCallIdentity {
  server_label: string;
}

/**
 * Turns a model's deltas, as they arrive, into spec-ordered events: an item opens before its
 * first delta, a part opens before its first delta, and both close exactly once, on
 * `finish` (the finished item) or `finishIncomplete` (a model step that died mid-stream keeps
 * the deltas already sent; its item closes with status `incomplete`). Each method returns
 * the events to append to the log, in order. Misuse (a delta after an item closed, a finished
 * item that contradicts what streamed) throws: those events could never be taken back.
 */
export class ItemStreamer {
  private readonly open = new Map<number, OpenItem>();
  private readonly closed = new Set<number>();

  /**
   * Rebuilds a streamer from the events it (or streamers like it) logged, for a process that
   * lacks the streaming one's memory: a model step that died mid-stream, or a response
   * cancelled while another process streams. The rebuilt streamer behaves as the original
   * would have: `finishAllIncomplete()` closes the same items with the same events.
   *
   * `events` are in log order, with or without sequence numbers. They may be a suffix of the
   * log, provided it starts at or before the output_item.added of every item still open:
   * events of an item whose output_item.added is not among them (its deltas, parts, done
   * events) are ignored, except that its output_item.done marks its output index closed.
   * Lifecycle, error, text `.done`, annotation and function_call_arguments.done events carry
   * nothing the streamer keeps, and sub-agent events belong to another scope's items, so all
   * are skipped. Events that contradict the item they name (a delta for a part that is not
   * open, an item announced twice at one output index) throw: such a log was never streamed.
   */
  static fromEvents(events: readonly (UnsequencedEvent | ResponseStreamEvent)[]): ItemStreamer {
    const streamer = new ItemStreamer();
    for (const event of events) streamer.replay(event);
    return streamer;
  }

  /** Text of the assistant message at `outputIndex`; a `phase` labels the item it opens. */
  textDelta(
    outputIndex: number,
    itemId: string,
    delta: string,
    phase?: MessagePhase,
  ): UnsequencedEvent[] {
    return this.partDelta(outputIndex, itemId, 'message', 'output_text', delta, undefined, phase);
  }

  /** A refusal in the assistant message at `outputIndex`; a `phase` labels the item it opens. */
  refusalDelta(
    outputIndex: number,
    itemId: string,
    delta: string,
    phase?: MessagePhase,
  ): UnsequencedEvent[] {
    return this.partDelta(outputIndex, itemId, 'message', 'refusal', delta, undefined, phase);
  }

  /** Raw reasoning text of the reasoning item at `outputIndex`. */
  reasoningDelta(outputIndex: number, itemId: string, delta: string): UnsequencedEvent[] {
    return this.partDelta(outputIndex, itemId, 'reasoning', 'reasoning_text', delta);
  }

  /**
   * Summary text of the reasoning item at `outputIndex`. Summaries come in numbered parts
   * upstream, so the caller says which: the open one, or the next (which closes the open one).
   */
  summaryDelta(
    outputIndex: number,
    itemId: string,
    summaryIndex: number,
    delta: string,
  ): UnsequencedEvent[] {
    return this.partDelta(outputIndex, itemId, 'reasoning', 'summary_text', delta, summaryIndex);
  }

  /**
   * Arguments of the function call at `outputIndex`. The call's identity is needed to open
   * the item; upstreams send it with the first fragment only, so callers keep it per item.
   */
  argumentsDelta(
    outputIndex: number,
    itemId: string,
    call: FunctionCallIdentity,
    delta: string,
  ): UnsequencedEvent[] {
    if (delta === '') return [];
    const events: UnsequencedEvent[] = [];
    const state = this.openItem(outputIndex, itemId, 'function_call', events, () => ({
      type: 'function_call',
      id: itemId,
      call_id: call.call_id,
      name: call.name,
      arguments: '',
      status: 'in_progress',
    }));
    state.arguments += delta;
    events.push({
      type: 'response.function_call_arguments.delta',
      item_id: itemId,
      output_index: outputIndex,
      delta,
    });
    return events;
  }

  /**
   * Arguments of a call ratchet runs itself, at `outputIndex`: its `mcp_call` item opens with
   * the first fragment, as a function call's does.
   */
  serverCallDelta(
    outputIndex: number,
    itemId: string,
    call: ServerCallIdentity,
    delta: string,
  ): UnsequencedEvent[] {
    if (delta === '') return [];
    const events: UnsequencedEvent[] = [];
    const state = this.openItem(outputIndex, itemId, 'mcp_call', events, () => ({
      type: 'mcp_call',
      id: itemId,
      call_id: call.call_id,
      server_label: call.server_label,
      name: call.name,
      arguments: '',
      output: null,
      error: null,
      status: 'in_progress',
    }));
    state.arguments += delta;
    events.push(callArgumentsDelta(outputIndex, itemId, delta));
    return events;
  }

  /**
   * A server call the model finished writing starts to run: its arguments close and
   * `response.mcp_call.in_progress` follows. The item stays open until `finish` gives it the
   * call's end. No events when it started already.
   */
  startCall(outputIndex: number, call: McpCallItem): UnsequencedEvent[] {
    const events: UnsequencedEvent[] = [];
    const state = this.openItem(outputIndex, call.id, call.type, events, () => openingItem(call));
    this.assertFinishes(state, call);
    if (state.started) return events;
    if (call.arguments.length > state.arguments.length) {
      events.push(
        callArgumentsDelta(outputIndex, call.id, call.arguments.slice(state.arguments.length)),
      );
      state.arguments = call.arguments;
    }
    state.started = true;
    events.push(...callStarted(outputIndex, call));
    return events;
  }

  /**
   * Announces a finished item at `outputIndex` ahead of its content: output_item.added, with
   * the item as it opens. Its content and end follow with `finish`. An item already streaming
   * there stays as it is (no events).
   */
  announce(outputIndex: number, item: Item): UnsequencedEvent[] {
    assertFinished(item);
    const events: UnsequencedEvent[] = [];
    const opening = openingItem(item);
    this.openItem(outputIndex, item.id, item.type, events, () => opening);
    return events;
  }

  /** Whether `finish(outputIndex, item)` would close the item there (nothing contradicts it). */
  accepts(outputIndex: number, item: Item): boolean {
    const state = this.open.get(outputIndex);
    if (!state) return !this.closed.has(outputIndex);
    try {
      this.assertFinishes(state, item);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Closes the item at `outputIndex` with the finished item. Text the item has beyond what
   * streamed is sent as a last delta; an item that never streamed is streamed whole.
   */
  finish(outputIndex: number, item: Item): UnsequencedEvent[] {
    assertFinished(item);
    const state = this.open.get(outputIndex);
    if (!state) {
      this.assertNotClosed(outputIndex);
      this.closed.add(outputIndex);
      return itemEvents(outputIndex, item);
    }
    this.assertFinishes(state, item);
    const events: UnsequencedEvent[] = [];
    switch (item.type) {
      case 'message':
        events.push(...this.finishParts(state, 'content', item.content.filter(isTextPart)));
        break;
      case 'reasoning': {
        // The open part closes first, so no two parts are ever open at once.
        const finished = { summary: item.summary, content: item.content ?? [] };
        const first: PartArea = state.openArea ?? 'summary';
        const second: PartArea = first === 'summary' ? 'content' : 'summary';
        events.push(
          ...this.finishParts(state, first, finished[first]),
          ...this.finishParts(state, second, finished[second]),
        );
        break;
      }
      case 'function_call':
        if (item.arguments.length > state.arguments.length) {
          events.push({
            type: 'response.function_call_arguments.delta',
            item_id: item.id,
            output_index: outputIndex,
            delta: item.arguments.slice(state.arguments.length),
          });
        }
        events.push(argumentsDone(outputIndex, item));
        break;
      case 'mcp_call':
        if (!state.started && item.status === 'incomplete') {
          // It never ran: its arguments close, and so does the item.
          events.push(...this.startCall(outputIndex, item).slice(0, -1));
        } else {
          events.push(...this.startCall(outputIndex, item), ...callEnded(outputIndex, item));
        }
        break;
      case 'function_call_output':
      case 'compaction':
      case 'mcp_approval_request':
      case 'mcp_approval_response':
        // Open only in a replayed log; nothing of it streams, so the item closes alone.
        break;
      case 'mcp_list_tools':
        // Open only in a replayed log (a listing streams whole): it ends as it ended.
        events.push(...listingEvents(outputIndex, item).slice(1));
        break;
    }
    events.push(itemDone(outputIndex, item));
    this.close(outputIndex);
    return events;
  }

  /**
   * Closes the item at `outputIndex` as `incomplete`, keeping what streamed. Returns no events
   * when nothing streamed there (the item was never announced, so there is nothing to close).
   */
  finishIncomplete(outputIndex: number): UnsequencedEvent[] {
    const state = this.open.get(outputIndex);
    if (!state) return [];
    const events = this.closeOpenPart(state);
    const parts = (list: StreamedPart[]): TextPart[] =>
      list.map((part) => partWithText(part.kind, part.text));
    let item: Item;
    switch (state.opening.type) {
      case 'message':
        item = {
          ...state.opening,
          status: 'incomplete',
          content: parts(state.content) as ContentPart[],
        };
        break;
      case 'function_call':
        events.push(argumentsDone(outputIndex, { ...state.opening, arguments: state.arguments }));
        item = { ...state.opening, status: 'incomplete', arguments: state.arguments };
        break;
      case 'reasoning':
        item = {
          ...state.opening,
          status: 'incomplete',
          summary: parts(state.summary) as SummaryTextPart[],
          content: parts(state.content) as ReasoningTextPart[],
        };
        break;
      case 'mcp_call':
        item = { ...state.opening, status: 'incomplete', arguments: state.arguments };
        if (!state.started) events.push(callStarted(outputIndex, item)[0]);
        break;
      case 'function_call_output':
        item = { ...state.opening, status: 'incomplete' };
        break;
      case 'compaction':
      case 'mcp_approval_request':
      case 'mcp_approval_response':
        item = state.opening;
        break;
      case 'mcp_list_tools':
        item = { ...state.opening, error: 'not_finished: the listing did not finish.' };
        break;
    }
    events.push(itemDone(outputIndex, item));
    this.close(outputIndex);
    return events;
  }

  /** Closes every item still streaming as `incomplete`, in output order. */
  finishAllIncomplete(): UnsequencedEvent[] {
    return [...this.open.keys()]
      .sort((a, b) => a - b)
      .flatMap((outputIndex) => this.finishIncomplete(outputIndex));
  }

  /** Output indexes of items opened and not yet closed. */
  openOutputIndexes(): number[] {
    return [...this.open.keys()].sort((a, b) => a - b);
  }

  /** The items opened and not yet closed, in output order. */
  openItems(): { outputIndex: number; itemId: string }[] {
    return [...this.open]
      .sort(([a], [b]) => a - b)
      .map(([outputIndex, state]) => ({ outputIndex, itemId: state.opening.id }));
  }

  /** Applies one logged event to the streamer's state, as the call that logged it did. */
  private replay(event: UnsequencedEvent | ResponseStreamEvent): void {
    switch (event.type) {
      case 'response.output_item.added':
        this.replayAdded(event.output_index, event.item);
        return;
      case 'response.output_item.done':
        if (this.replayed(event)) this.close(event.output_index);
        // Announced before the events begin: all there is to keep is that its index is closed.
        else this.closed.add(event.output_index);
        return;
      case 'response.content_part.added':
        this.replayPartAdded(event, event.content_index, event.part);
        return;
      case 'response.reasoning_summary_part.added':
        this.replayPartAdded(event, event.summary_index, event.part);
        return;
      case 'response.output_text.delta':
        this.replayDelta(event, 'output_text', event.content_index, event.delta);
        return;
      case 'response.refusal.delta':
        this.replayDelta(event, 'refusal', event.content_index, event.delta);
        return;
      case 'response.reasoning.delta':
        this.replayDelta(event, 'reasoning_text', event.content_index, event.delta);
        return;
      case 'response.reasoning_summary_text.delta':
        this.replayDelta(event, 'summary_text', event.summary_index, event.delta);
        return;
      case 'response.content_part.done':
        this.replayPartDone(event, event.content_index, event.part);
        return;
      case 'response.reasoning_summary_part.done':
        this.replayPartDone(event, event.summary_index, event.part);
        return;
      case 'response.function_call_arguments.delta':
        this.replayArguments(event, 'function_call');
        return;
      case 'response.mcp_call_arguments.delta':
        this.replayArguments(event, 'mcp_call');
        return;
      case 'response.mcp_call_arguments.done': {
        const state = this.replayed(event);
        if (state) state.started = true;
        return;
      }
      // The rest carry nothing the streamer keeps: the text's done events repeat what the
      // deltas sent; annotations and function_call_arguments.done come in the same batch as
      // the output_item.done that closes their item; a sub-agent's items live in its own
      // scope, with output indexes of their own.
      case 'response.created':
      case 'response.queued':
      case 'response.in_progress':
      case 'response.completed':
      case 'response.failed':
      case 'response.incomplete':
      case 'response.cancelled':
      case 'error':
      case 'response.output_text.done':
      case 'response.output_text.annotation.added':
      case 'response.refusal.done':
      case 'response.reasoning.done':
      case 'response.reasoning_summary_text.done':
      case 'response.function_call_arguments.done':
      case 'response.mcp_call.in_progress':
      case 'response.mcp_call.completed':
      case 'response.mcp_call.failed':
      case 'response.mcp_list_tools.in_progress':
      case 'response.mcp_list_tools.completed':
      case 'response.mcp_list_tools.failed':
      case AGENT_EVENT_TYPE:
        return;
    }
  }

  private replayArguments(
    event: PartEventLocation & { delta: string },
    type: 'function_call' | 'mcp_call',
  ): void {
    const state = this.replayed(event);
    if (!state) return;
    if (state.opening.type !== type) {
      throw new Error(
        `item ${event.item_id} is a ${state.opening.type}, with no arguments of a ${type}`,
      );
    }
    state.arguments += event.delta;
  }

  private replayAdded(outputIndex: number, item: Item): void {
    const existing = this.open.get(outputIndex);
    if (existing) {
      throw new Error(
        `output ${outputIndex} streams ${existing.opening.type} ${existing.opening.id}; ${item.type} ${item.id} cannot open there`,
      );
    }
    this.assertNotClosed(outputIndex);
    this.open.set(outputIndex, {
      outputIndex,
      opening: { ...item },
      content: [],
      summary: [],
      openArea: null,
      arguments: '',
      started: false,
    });
  }

  /**
   * The open item a logged event names, or undefined when none is open at its output index
   * (announced before the events begin, or closed already). Throws if another item is.
   */
  private replayed(event: ItemEventLocation): OpenItem | undefined {
    const state = this.open.get(event.output_index);
    const itemId = 'item' in event ? event.item.id : event.item_id;
    if (state && state.opening.id !== itemId) {
      throw new Error(
        `output ${event.output_index} streams ${state.opening.type} ${state.opening.id}, not ${itemId}`,
      );
    }
    return state;
  }

  private replayPartAdded(
    event: PartEventLocation,
    index: number,
    part: StreamContentPart | SummaryTextPart,
  ): void {
    const state = this.replayed(event);
    if (!state) return;
    const kind = this.replayedKind(state, part);
    const area = areaOf(kind);
    // Parts open one at a time, each at the next index of its list.
    if (state.openArea !== null || index !== state[area].length) {
      throw new Error(`item ${event.item_id}: ${area} part ${index} opens out of order`);
    }
    state[area].push({ kind, text: '' });
    state.openArea = area;
  }

  private replayDelta(
    event: PartEventLocation,
    kind: TextPartKind,
    index: number,
    delta: string,
  ): void {
    const state = this.replayed(event);
    if (state) this.replayedPart(state, kind, index).text += delta;
  }

  private replayPartDone(
    event: PartEventLocation,
    index: number,
    finished: StreamContentPart | SummaryTextPart,
  ): void {
    const state = this.replayed(event);
    if (!state) return;
    const kind = this.replayedKind(state, finished);
    const part = this.replayedPart(state, kind, index);
    if (partText(finished as TextPart) !== part.text) {
      throw new Error(`item ${event.item_id}: ${kind} part ${index} closes with other text`);
    }
    state.openArea = null;
  }

  /** The kind of a logged part, if parts of that kind stream in the item; throws otherwise. */
  private replayedKind(state: OpenItem, part: StreamContentPart | SummaryTextPart): TextPartKind {
    const kinds: Partial<Record<OpenItem['opening']['type'], readonly string[]>> = {
      message: ['output_text', 'refusal'],
      reasoning: ['reasoning_text', 'summary_text'],
    };
    if (!kinds[state.opening.type]?.includes(part.type)) {
      throw new Error(
        `item ${state.opening.id}: no ${part.type} part streams in a ${state.opening.type}`,
      );
    }
    return part.type as TextPartKind;
  }

  /** The part a logged delta or done event names, which must be the open one. */
  private replayedPart(state: OpenItem, kind: TextPartKind, index: number): StreamedPart {
    const area = areaOf(kind);
    const list = state[area];
    const part = list[index];
    if (state.openArea !== area || index !== list.length - 1 || part.kind !== kind) {
      throw new Error(`item ${state.opening.id}: ${kind} part ${index} is not the open part`);
    }
    return part;
  }

  private partDelta(
    outputIndex: number,
    itemId: string,
    itemType: 'message' | 'reasoning',
    kind: TextPartKind,
    delta: string,
    requestedIndex?: number,
    phase?: MessagePhase,
  ): UnsequencedEvent[] {
    // Upstreams send empty fragments (a role-only first chunk); they must not open anything.
    if (delta === '') return [];
    const events: UnsequencedEvent[] = [];
    const state = this.openItem(outputIndex, itemId, itemType, events, () =>
      itemType === 'message'
        ? {
            type: 'message',
            id: itemId,
            role: 'assistant',
            status: 'in_progress',
            content: [],
            ...(phase ? { phase } : {}),
          }
        : reasoningSkeleton(itemId, true),
    );
    const area = areaOf(kind);
    const list = state[area];
    const current = state.openArea === area ? list[list.length - 1] : undefined;
    const openIndex = current ? list.length - 1 : undefined;
    const sameIndex = requestedIndex === undefined || requestedIndex === openIndex;
    if (!current || current.kind !== kind || !sameIndex) {
      if (requestedIndex !== undefined && requestedIndex !== list.length) {
        throw new Error(
          `item ${itemId}: ${area} part ${requestedIndex} is neither the open part nor the next`,
        );
      }
      events.push(...this.closeOpenPart(state));
      list.push({ kind, text: '' });
      state.openArea = area;
      events.push(partAdded(kind, { itemId, outputIndex, index: list.length - 1 }));
    }
    const part = list[list.length - 1];
    part.text += delta;
    events.push(partDelta(kind, { itemId, outputIndex, index: list.length - 1 }, delta));
    return events;
  }

  private openItem<T extends OpenItem['opening']>(
    outputIndex: number,
    itemId: string,
    itemType: T['type'],
    events: UnsequencedEvent[],
    opening: () => T,
  ): OpenItem {
    const existing = this.open.get(outputIndex);
    if (existing) {
      if (existing.opening.id !== itemId || existing.opening.type !== itemType) {
        throw new Error(
          `output ${outputIndex} streams ${existing.opening.type} ${existing.opening.id}, not ${itemType} ${itemId}`,
        );
      }
      return existing;
    }
    this.assertNotClosed(outputIndex);
    const state: OpenItem = {
      outputIndex,
      opening: opening(),
      content: [],
      summary: [],
      openArea: null,
      arguments: '',
      started: false,
    };
    this.open.set(outputIndex, state);
    events.push(itemAdded(outputIndex, state.opening));
    return state;
  }

  /** Closes the part taking deltas with the text it streamed. */
  private closeOpenPart(state: OpenItem): UnsequencedEvent[] {
    if (state.openArea === null) return [];
    const list = state[state.openArea];
    const index = list.length - 1;
    const part = list[index];
    state.openArea = null;
    const at = { itemId: state.opening.id, outputIndex: state.outputIndex, index };
    return partClosed(at, partWithText(part.kind, part.text));
  }

  /** Throws unless `item` can close the open item `state`: the same item, extending what streamed. */
  private assertFinishes(state: OpenItem, item: Item): void {
    if (state.opening.id !== item.id || state.opening.type !== item.type) {
      throw new Error(
        `output ${state.outputIndex} streams ${state.opening.type} ${state.opening.id}, not ${item.type} ${item.id}`,
      );
    }
    switch (item.type) {
      case 'message':
        if (item.content.some((part) => !isTextPart(part))) {
          throw new Error(`message ${item.id} has parts that cannot follow streamed text`);
        }
        this.assertConsistent(state, 'content', item.content.filter(isTextPart));
        return;
      case 'reasoning':
        this.assertConsistent(state, 'summary', item.summary);
        this.assertConsistent(state, 'content', item.content ?? []);
        return;
      case 'function_call':
      case 'mcp_call':
        if (!item.arguments.startsWith(state.arguments)) {
          throw new Error(`${item.type} ${item.id}: finished arguments contradict streamed ones`);
        }
        if (state.started && item.arguments !== state.arguments) {
          throw new Error(`${item.type} ${item.id}: its arguments were complete already`);
        }
        return;
      case 'function_call_output':
      case 'compaction':
      case 'mcp_list_tools':
      case 'mcp_approval_request':
      case 'mcp_approval_response':
        return;
    }
  }

  /** Throws unless the finished parts extend what streamed in `area`; checked before emitting. */
  private assertConsistent(state: OpenItem, area: PartArea, finished: readonly TextPart[]): void {
    const streamed = state[area];
    if (streamed.length > finished.length) {
      throw new Error(`item ${state.opening.id}: more ${area} parts streamed than it has`);
    }
    streamed.forEach((sent, index) => {
      const text = partText(finished[index]);
      const isOpen = state.openArea === area && index === streamed.length - 1;
      const consistent =
        sent.kind === finished[index].type &&
        (isOpen ? text.startsWith(sent.text) : text === sent.text);
      if (!consistent) {
        throw new Error(
          `item ${state.opening.id}: ${area} part ${index} contradicts what streamed`,
        );
      }
    });
  }

  /**
   * Reconciles one area's streamed parts with the finished item's (already checked by
   * assertConsistent): the open part gets any missing text and closes with the finished part
   * (which may carry annotations); parts that never streamed are streamed whole.
   */
  private finishParts(
    state: OpenItem,
    area: PartArea,
    finished: readonly TextPart[],
  ): UnsequencedEvent[] {
    const streamed = state[area];
    const events: UnsequencedEvent[] = [];
    const at = (index: number): PartLocation => ({
      itemId: state.opening.id,
      outputIndex: state.outputIndex,
      index,
    });
    finished.forEach((part, index) => {
      const sent = streamed[index];
      if (!sent) {
        events.push(...textPartEvents(at(index), part, wholeText));
        return;
      }
      if (state.openArea !== area || index !== streamed.length - 1) return;
      const text = partText(part);
      if (text.length > sent.text.length) {
        events.push(partDelta(sent.kind, at(index), text.slice(sent.text.length)));
        sent.text = text;
      }
      state.openArea = null;
      events.push(...partClosed(at(index), part));
    });
    return events;
  }

  private assertNotClosed(outputIndex: number): void {
    if (this.closed.has(outputIndex)) {
      throw new Error(`output ${outputIndex} is already closed`);
    }
  }

  private close(outputIndex: number): void {
    this.open.delete(outputIndex);
    this.closed.add(outputIndex);
  }
}

/**
 * The events that stream the approval requests of a paused response's final `output` that its
 * log never announced (`announced` holds the ids of the items it did: its worker died between
 * ending the turn and logging them), at output indexes from `first` on.
 */
export function unannouncedRequests(
  output: readonly Item[],
  announced: ReadonlySet<string>,
  first: number,
): UnsequencedEvent[] {
  return output
    .filter((item) => item.type === 'mcp_approval_request' && !announced.has(item.id))
    .flatMap((item, i) => itemEvents(first + i, item));
}

/**
 * The events that close every item the logged `events` announced and never finished, with the
 * same rules as `ItemStreamer.fromEvents` for which events it may be given. An item that
 * `output` holds (the response's final output: its step was recorded, and its worker died
 * before logging the item's end) finishes as the output has it; any other closes
 * `incomplete`, keeping what streamed.
 */
export function closeOpenItems(
  events: readonly (UnsequencedEvent | ResponseStreamEvent)[],
  output: readonly Item[] = [],
): UnsequencedEvent[] {
  const streamer = ItemStreamer.fromEvents(events);
  const finished = new Map(output.map((item) => [item.id, item]));
  return streamer.openItems().flatMap(({ outputIndex, itemId }) => {
    const item = finished.get(itemId);
    if (item) {
      try {
        return streamer.finish(outputIndex, item);
      } catch {
        // What streamed contradicts the item: it closes incomplete, as a cut-short one does.
      }
    }
    return streamer.finishIncomplete(outputIndex);
  });
}
