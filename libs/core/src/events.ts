import type { ContentPart, Item } from './items';
import type { ResponseObject, ResponseStatus } from './response';

// The streaming events of a response, as the Open Responses spec names and shapes them, and
// builders of the response-level ones. Builders produce events without sequence numbers: only
// the event log may number them, atomically and gap-free, so that live tails and every replay
// see the same numbers. The events that stream an item are built in item-events.ts (a whole
// item) and item-streamer.ts (an item as its deltas arrive).

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
