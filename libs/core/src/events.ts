import type {
  ContentPart,
  FunctionCallItem,
  Item,
  McpCallItem,
  McpListToolsItem,
  MessagePhase,
  ReasoningItem,
} from './items';
import type { ResponseObject, ResponseStatus } from './response';

// The streaming events of a response, as the Open Responses spec names and shapes them, and
// pure builders that turn items into the ordered events that stream them. Builders produce
// events without sequence numbers: only the event log may number them, atomically and
// gap-free, so that live tails and every replay see the same numbers.

// ---- Event types ----

/** Events that carry the whole Response object (its state machine). */
export const RESPONSE_EVENT_TYPES = [
  'response.created',
  'response.queued',
  'response.in_progress',
  'response.completed',
  'response.failed',
  'response.incomplete',
  // Not in the Open Responses spec (nor in OpenAI's stream events): ratchet's terminal event
  // for a cancelled background response, shaped like the other terminals (DESIGN.md).
  'response.cancelled',
] as const;
export type ResponseEventType = (typeof RESPONSE_EVENT_TYPES)[number];

export type TerminalEventType = Extract<
  ResponseEventType,
  'response.completed' | 'response.failed' | 'response.incomplete' | 'response.cancelled'
>;

export type ResponseLifecycleEvent = {
  [T in ResponseEventType]: { type: T; sequence_number: number; response: ResponseObject };
}[ResponseEventType];

/** A reasoning item's raw reasoning, streamed with content_part and response.reasoning events. */
export interface ReasoningTextPart {
  type: 'reasoning_text';
  text: string;
}

/** A reasoning item's summary, streamed with the reasoning_summary_* events. */
export interface SummaryTextPart {
  type: 'summary_text';
  text: string;
}

/** What a content_part event carries: a message's part or a reasoning item's content part. */
export type StreamContentPart = ContentPart | ReasoningTextPart;

export type OutputTextPart = Extract<ContentPart, { type: 'output_text' }>;
export type RefusalPart = Extract<ContentPart, { type: 'refusal' }>;

export interface OutputItemAddedEvent {
  type: 'response.output_item.added';
  sequence_number: number;
  output_index: number;
  item: Item;
}

export interface OutputItemDoneEvent {
  type: 'response.output_item.done';
  sequence_number: number;
  output_index: number;
  item: Item;
}

export interface ContentPartAddedEvent {
  type: 'response.content_part.added';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  part: StreamContentPart;
}

export interface ContentPartDoneEvent {
  type: 'response.content_part.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  part: StreamContentPart;
}

export interface OutputTextDeltaEvent {
  type: 'response.output_text.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  delta: string;
  // Optional in the 2026-04-24 spec but required by the older schema and the compliance
  // tester's zod schema; ratchet never has logprobs, so it always sends [].
  logprobs: unknown[];
}

export interface OutputTextDoneEvent {
  type: 'response.output_text.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  text: string;
  logprobs: unknown[];
}

export interface OutputTextAnnotationAddedEvent {
  type: 'response.output_text.annotation.added';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  annotation_index: number;
  annotation: unknown;
}

export interface RefusalDeltaEvent {
  type: 'response.refusal.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  delta: string;
}

export interface RefusalDoneEvent {
  type: 'response.refusal.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  refusal: string;
}

/** Open Responses names raw reasoning events `response.reasoning.*` (OpenAI: `reasoning_text`). */
export interface ReasoningDeltaEvent {
  type: 'response.reasoning.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  delta: string;
}

export interface ReasoningDoneEvent {
  type: 'response.reasoning.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  content_index: number;
  text: string;
}

export interface ReasoningSummaryPartAddedEvent {
  type: 'response.reasoning_summary_part.added';
  sequence_number: number;
  item_id: string;
  output_index: number;
  summary_index: number;
  part: SummaryTextPart;
}

export interface ReasoningSummaryPartDoneEvent {
  type: 'response.reasoning_summary_part.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  summary_index: number;
  part: SummaryTextPart;
}

export interface ReasoningSummaryTextDeltaEvent {
  type: 'response.reasoning_summary_text.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  summary_index: number;
  delta: string;
}

export interface ReasoningSummaryTextDoneEvent {
  type: 'response.reasoning_summary_text.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  summary_index: number;
  text: string;
}

export interface FunctionCallArgumentsDeltaEvent {
  type: 'response.function_call_arguments.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  delta: string;
}

export interface FunctionCallArgumentsDoneEvent {
  type: 'response.function_call_arguments.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  arguments: string;
  // Not in the Open Responses schema (extra fields are allowed); OpenAI sends it, and clients
  // that act on `.done` alone need it.
  name: string;
}

/** The arguments of a call ratchet runs itself, as the model writes them (OpenAI's MCP events). */
export interface McpCallArgumentsDeltaEvent {
  type: 'response.mcp_call_arguments.delta';
  sequence_number: number;
  item_id: string;
  output_index: number;
  delta: string;
}

export interface McpCallArgumentsDoneEvent {
  type: 'response.mcp_call_arguments.done';
  sequence_number: number;
  item_id: string;
  output_index: number;
  arguments: string;
}

/** The call started running. */
export interface McpCallInProgressEvent {
  type: 'response.mcp_call.in_progress';
  sequence_number: number;
  item_id: string;
  output_index: number;
}

export interface McpCallCompletedEvent {
  type: 'response.mcp_call.completed';
  sequence_number: number;
  item_id: string;
  output_index: number;
}

export interface McpCallFailedEvent {
  type: 'response.mcp_call.failed';
  sequence_number: number;
  item_id: string;
  output_index: number;
}

/** An MCP server's tools are being listed (OpenAI's `response.mcp_list_tools.*`). */
export interface McpListToolsEvent {
  type:
    | 'response.mcp_list_tools.in_progress'
    | 'response.mcp_list_tools.completed'
    | 'response.mcp_list_tools.failed';
  sequence_number: number;
  item_id: string;
  output_index: number;
}

/** The stream `error` event's payload; code and param are always present, null when unknown. */
export interface StreamErrorPayload {
  type: string;
  code: string | null;
  message: string;
  param: string | null;
}

export interface ErrorEvent {
  type: 'error';
  sequence_number: number;
  error: StreamErrorPayload;
}

/** The type of sub-agent events; the `ratchet:` prefix keeps it out of the spec's namespace. */
export const AGENT_EVENT_TYPE = 'ratchet:agent.event';

/** Which sub-agent an agent event comes from. */
export interface AgentIdentity {
  /** The step that runs the sub-agent (the agent call's step). */
  step_id: string;
  /** The agent call's call_id, null when the sub-agent was not started by a function call. */
  call_id: string | null;
  /** The agent's name, as the config names it. */
  name: string;
  /** How deep the sub-agent's scope is nested below the response's top-level scope. */
  depth: number;
}

/**
 * Not in the Open Responses spec: one event of a sub-agent's scope, carried in the top-level
 * stream. Its type is namespaced, so spec-strict clients can skip it as an unknown event. The
 * outer event takes its sequence number from the top-level log; the inner `event` is the
 * child scope's event as its builders made it, without one.
 */
export interface AgentEvent {
  type: typeof AGENT_EVENT_TYPE;
  sequence_number: number;
  agent: AgentIdentity;
  event: UnsequencedEvent;
}

export type ResponseStreamEvent =
  | ResponseLifecycleEvent
  | OutputItemAddedEvent
  | OutputItemDoneEvent
  | ContentPartAddedEvent
  | ContentPartDoneEvent
  | OutputTextDeltaEvent
  | OutputTextDoneEvent
  | OutputTextAnnotationAddedEvent
  | RefusalDeltaEvent
  | RefusalDoneEvent
  | ReasoningDeltaEvent
  | ReasoningDoneEvent
  | ReasoningSummaryPartAddedEvent
  | ReasoningSummaryPartDoneEvent
  | ReasoningSummaryTextDeltaEvent
  | ReasoningSummaryTextDoneEvent
  | FunctionCallArgumentsDeltaEvent
  | FunctionCallArgumentsDoneEvent
  | McpCallArgumentsDeltaEvent
  | McpCallArgumentsDoneEvent
  | McpListToolsEvent
  | McpCallInProgressEvent
  | McpCallCompletedEvent
  | McpCallFailedEvent
  | ErrorEvent
  | AgentEvent;

export type StreamEventType = ResponseStreamEvent['type'];

// Omit distributed over the union, so each member keeps its own literal `type`.
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event as builders make it; the event log adds `sequence_number`. */
export type UnsequencedEvent = DistributiveOmit<ResponseStreamEvent, 'sequence_number'>;

export type UnsequencedEventOf<T extends StreamEventType> = Extract<UnsequencedEvent, { type: T }>;

export function isTerminalEvent(type: string): type is TerminalEventType {
  return (
    type === 'response.completed' ||
    type === 'response.failed' ||
    type === 'response.incomplete' ||
    type === 'response.cancelled'
  );
}

/** Numbers events consecutively from `first`, as the event log does when it appends them. */
export function sequenceEvents(
  events: readonly UnsequencedEvent[],
  first = 0,
): ResponseStreamEvent[] {
  return events.map((event, i) => ({ ...event, sequence_number: first + i }));
}

// ---- Response events ----

/** Response statuses each lifecycle event may carry; anything else is a bug in the caller. */
const STATUSES_OF: Record<ResponseEventType, readonly ResponseStatus[]> = {
  'response.created': ['queued', 'in_progress'],
  'response.queued': ['queued'],
  'response.in_progress': ['in_progress'],
  'response.completed': ['completed'],
  'response.failed': ['failed'],
  'response.incomplete': ['incomplete'],
  'response.cancelled': ['cancelled'],
};

export function responseEvent<T extends ResponseEventType>(
  type: T,
  response: ResponseObject,
): UnsequencedEventOf<T> {
  if (!STATUSES_OF[type].includes(response.status)) {
    throw new Error(`${type} cannot carry a response with status '${response.status}'`);
  }
  return { type, response } as UnsequencedEventOf<T>;
}

export function errorEvent(error: StreamErrorPayload): UnsequencedEventOf<'error'> {
  return { type: 'error', error };
}

/**
 * Wraps one event of a sub-agent's scope for the top-level stream. `event` may come from the
 * child scope's log: its sequence number, if any, is dropped, since only the top-level log
 * numbers what the top-level stream carries.
 */
export function agentEvent(
  agent: AgentIdentity,
  event: UnsequencedEvent | ResponseStreamEvent,
): UnsequencedEventOf<typeof AGENT_EVENT_TYPE> {
  return { type: AGENT_EVENT_TYPE, agent: { ...agent }, event: unsequenced(event) };
}

function unsequenced(event: UnsequencedEvent | ResponseStreamEvent): UnsequencedEvent {
  if (!('sequence_number' in event)) return event;
  const { sequence_number: _sequenceNumber, ...rest } = event;
  return rest;
}

// ---- Parts: the shared shapes of part-level events ----

/** Parts whose text streams as deltas, each with its own delta/done event names. */
type TextPartKind = 'output_text' | 'refusal' | 'reasoning_text' | 'summary_text';
type TextPart = OutputTextPart | RefusalPart | ReasoningTextPart | SummaryTextPart;

interface PartLocation {
  itemId: string;
  outputIndex: number;
  /** content_index, or summary_index for summary parts. */
  index: number;
}

function partText(part: TextPart): string {
  return part.type === 'refusal' ? part.refusal : part.text;
}

/** The part as built from streamed text alone (no annotations: they come with the item). */
function partWithText(kind: TextPartKind, text: string): TextPart {
  switch (kind) {
    case 'output_text':
      return { type: 'output_text', text, annotations: [], logprobs: [] };
    case 'refusal':
      return { type: 'refusal', refusal: text };
    case 'reasoning_text':
      return { type: 'reasoning_text', text };
    case 'summary_text':
      return { type: 'summary_text', text };
  }
}

function partAdded(kind: TextPartKind, at: PartLocation): UnsequencedEvent {
  // The spec's zero values: the part opens empty and its text arrives in deltas.
  const part = partWithText(kind, '');
  const base = { item_id: at.itemId, output_index: at.outputIndex };
  if (part.type === 'summary_text') {
    return {
      type: 'response.reasoning_summary_part.added',
      ...base,
      summary_index: at.index,
      part,
    };
  }
  return { type: 'response.content_part.added', ...base, content_index: at.index, part };
}

function partDelta(kind: TextPartKind, at: PartLocation, delta: string): UnsequencedEvent {
  const base = { item_id: at.itemId, output_index: at.outputIndex };
  switch (kind) {
    case 'output_text':
      return {
        type: 'response.output_text.delta',
        ...base,
        content_index: at.index,
        delta,
        logprobs: [],
      };
    case 'refusal':
      return { type: 'response.refusal.delta', ...base, content_index: at.index, delta };
    case 'reasoning_text':
      return { type: 'response.reasoning.delta', ...base, content_index: at.index, delta };
    case 'summary_text':
      return {
        type: 'response.reasoning_summary_text.delta',
        ...base,
        summary_index: at.index,
        delta,
      };
  }
}

/** The text's done event, annotations (output_text only), then the part's done event. */
function partClosed(at: PartLocation, part: TextPart): UnsequencedEvent[] {
  const base = { item_id: at.itemId, output_index: at.outputIndex };
  const content = { ...base, content_index: at.index };
  switch (part.type) {
    case 'output_text':
      return [
        ...part.annotations.map((annotation, annotationIndex): UnsequencedEvent => ({
          type: 'response.output_text.annotation.added',
          ...content,
          annotation_index: annotationIndex,
          annotation,
        })),
        { type: 'response.output_text.done', ...content, text: part.text, logprobs: [] },
        { type: 'response.content_part.done', ...content, part },
      ];
    case 'refusal':
      return [
        { type: 'response.refusal.done', ...content, refusal: part.refusal },
        { type: 'response.content_part.done', ...content, part },
      ];
    case 'reasoning_text':
      return [
        { type: 'response.reasoning.done', ...content, text: part.text },
        { type: 'response.content_part.done', ...content, part },
      ];
    case 'summary_text':
      return [
        {
          type: 'response.reasoning_summary_text.done',
          ...base,
          summary_index: at.index,
          text: part.text,
        },
        { type: 'response.reasoning_summary_part.done', ...base, summary_index: at.index, part },
      ];
  }
}

/** Splits text into deltas; the default sends the whole text as one delta. */
export type TextSplitter = (text: string) => readonly string[];

export interface ItemEventOptions {
  split?: TextSplitter;
}

const wholeText: TextSplitter = (text) => [text];

/** Splits text into chunks of at most `size` code points (never inside a surrogate pair). */
export function chunkText(text: string, size: number): string[] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`chunk size must be >= 1, got ${size}`);
  const codePoints = Array.from(text);
  const chunks: string[] = [];
  for (let i = 0; i < codePoints.length; i += size) {
    chunks.push(codePoints.slice(i, i + size).join(''));
  }
  return chunks;
}

/** The deltas for a text; empty ones are dropped, so an empty text streams no delta at all. */
function deltasOf(text: string, split: TextSplitter): string[] {
  const deltas = split(text).filter((delta) => delta !== '');
  if (deltas.join('') !== text) {
    throw new Error('a TextSplitter must return chunks that join to the original text');
  }
  return deltas;
}

function textPartEvents(at: PartLocation, part: TextPart, split: TextSplitter): UnsequencedEvent[] {
  return [
    partAdded(part.type, at),
    ...deltasOf(partText(part), split).map((delta) => partDelta(part.type, at, delta)),
    ...partClosed(at, part),
  ];
}

function isTextPart(part: StreamContentPart): part is OutputTextPart | RefusalPart {
  return part.type === 'output_text' || part.type === 'refusal';
}

/** A message part: text parts stream; others (never in model output) open and close whole. */
function messagePartEvents(
  at: PartLocation,
  part: ContentPart,
  split: TextSplitter,
): UnsequencedEvent[] {
  if (isTextPart(part)) return textPartEvents(at, part, split);
  const location = { item_id: at.itemId, output_index: at.outputIndex, content_index: at.index };
  return [
    { type: 'response.content_part.added', ...location, part },
    { type: 'response.content_part.done', ...location, part },
  ];
}

// ---- Items ----

function itemAdded(outputIndex: number, item: Item): UnsequencedEvent {
  return { type: 'response.output_item.added', output_index: outputIndex, item };
}

function itemDone(outputIndex: number, item: Item): UnsequencedEvent {
  return { type: 'response.output_item.done', output_index: outputIndex, item };
}

function argumentsDone(outputIndex: number, call: FunctionCallItem): UnsequencedEvent {
  return {
    type: 'response.function_call_arguments.done',
    item_id: call.id,
    output_index: outputIndex,
    arguments: call.arguments,
    name: call.name,
  };
}

function callEvent(
  type:
    'response.mcp_call.in_progress' | 'response.mcp_call.completed' | 'response.mcp_call.failed',
  outputIndex: number,
  itemId: string,
): UnsequencedEvent {
  return { type, item_id: itemId, output_index: outputIndex };
}

function callArgumentsDelta(outputIndex: number, itemId: string, delta: string): UnsequencedEvent {
  return {
    type: 'response.mcp_call_arguments.delta',
    item_id: itemId,
    output_index: outputIndex,
    delta,
  };
}

/** A server call's arguments are complete and it starts to run. */
function callStarted(outputIndex: number, call: McpCallItem): UnsequencedEvent[] {
  return [
    {
      type: 'response.mcp_call_arguments.done',
      item_id: call.id,
      output_index: outputIndex,
      arguments: call.arguments,
    },
    callEvent('response.mcp_call.in_progress', outputIndex, call.id),
  ];
}

/** How a server call's run ended, if it ran: completed or failed (an incomplete one has none). */
function callEnded(outputIndex: number, call: McpCallItem): UnsequencedEvent[] {
  switch (call.status) {
    case 'completed':
      return [callEvent('response.mcp_call.completed', outputIndex, call.id)];
    case 'failed':
      return [callEvent('response.mcp_call.failed', outputIndex, call.id)];
    case 'in_progress':
    case 'calling':
    case 'incomplete':
      return [];
  }
}

/** A listing's progress: it started, then it completed or failed. */
function listingEvents(outputIndex: number, item: McpListToolsItem): UnsequencedEvent[] {
  const at = { item_id: item.id, output_index: outputIndex };
  return [
    { type: 'response.mcp_list_tools.in_progress', ...at },
    {
      type:
        item.error === null
          ? 'response.mcp_list_tools.completed'
          : 'response.mcp_list_tools.failed',
      ...at,
    },
  ];
}

/**
 * What output_item.added announces: the item with zero values for everything still to stream
 * (spec: "all fields not marked nullable MUST have a value") and status in_progress.
 */
function openingItem(item: Item): Item {
  switch (item.type) {
    case 'message':
      return { ...item, status: 'in_progress', content: [] };
    case 'function_call':
      return { ...item, status: 'in_progress', arguments: '' };
    case 'mcp_call':
      return { ...item, status: 'in_progress', arguments: '', output: null, error: null };
    case 'function_call_output':
      // Nothing of it streams: the output is known when the item opens.
      return { ...item, status: 'in_progress' };
    case 'mcp_list_tools':
      return { ...item, tools: [], error: null };
    case 'reasoning':
      return reasoningSkeleton(item.id, item.content !== undefined);
    case 'compaction':
    case 'mcp_approval_response':
      // Only ever input: no model writes one, so none streams.
      return item;
    case 'mcp_approval_request':
      // Nothing of it streams: it opens as it closes, as OpenAI streams it.
      return item;
  }
}

function reasoningSkeleton(id: string, withContent: boolean): ReasoningItem {
  // The spec's ReasoningBody has no status, but its prose requires one on every item and
  // extra fields are allowed, so the opening item says in_progress like the others.
  return {
    type: 'reasoning',
    id,
    summary: [],
    ...(withContent ? { content: [] } : {}),
    status: 'in_progress',
  };
}

function assertFinished(item: Item): void {
  if (
    item.type === 'compaction' ||
    item.type === 'mcp_list_tools' ||
    item.type === 'mcp_approval_request' ||
    item.type === 'mcp_approval_response'
  ) {
    return;
  }
  if (item.status === 'in_progress' || item.status === 'calling') {
    throw new Error(`item ${item.id} is still in_progress; only finished items can be closed`);
  }
}

/**
 * Every event that streams one finished item at `outputIndex`, in spec order: the item opens,
 * each part opens, its text streams (one delta, or the chunks `options.split` makes), the part
 * closes, and the item closes carrying the finished item.
 */
export function itemEvents(
  outputIndex: number,
  item: Item,
  options: ItemEventOptions = {},
): UnsequencedEvent[] {
  assertFinished(item);
  const split = options.split ?? wholeText;
  const at = (index: number): PartLocation => ({ itemId: item.id, outputIndex, index });
  const body: UnsequencedEvent[] = [];
  switch (item.type) {
    case 'message':
      item.content.forEach((part, i) => body.push(...messagePartEvents(at(i), part, split)));
      break;
    case 'function_call':
      for (const delta of deltasOf(item.arguments, split)) {
        body.push({
          type: 'response.function_call_arguments.delta',
          item_id: item.id,
          output_index: outputIndex,
          delta,
        });
      }
      body.push(argumentsDone(outputIndex, item));
      break;
    case 'mcp_call':
      for (const delta of deltasOf(item.arguments, split)) {
        body.push(callArgumentsDelta(outputIndex, item.id, delta));
      }
      // A call that never ran (the response ended first) closes without having started.
      if (item.status === 'incomplete') {
        body.push(callStarted(outputIndex, item)[0]);
      } else {
        body.push(...callStarted(outputIndex, item), ...callEnded(outputIndex, item));
      }
      break;
    case 'function_call_output':
    case 'compaction':
    case 'mcp_approval_request':
    case 'mcp_approval_response':
      break;
    case 'mcp_list_tools':
      body.push(...listingEvents(outputIndex, item));
      break;
    case 'reasoning':
      // Summary before raw content, the order of the item's own fields.
      item.summary.forEach((part, i) => body.push(...textPartEvents(at(i), part, split)));
      (item.content ?? []).forEach((part, i) => body.push(...textPartEvents(at(i), part, split)));
      break;
  }
  return [itemAdded(outputIndex, openingItem(item)), ...body, itemDone(outputIndex, item)];
}

// ---- Incremental streaming ----

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
