import type {
  ContentPart,
  FunctionCallItem,
  Item,
  McpCallItem,
  McpListToolsItem,
  ReasoningItem,
} from './items';
import type {
  OutputTextPart,
  ReasoningTextPart,
  RefusalPart,
  StreamContentPart,
  SummaryTextPart,
  UnsequencedEvent,
} from './events';

// Pure builders that turn a finished item into the events that stream it, in spec order
// (`itemEvents`, its text split into deltas as `chunkText` or any TextSplitter cuts it). The
// part- and item-level builders beneath it are exported for ItemStreamer (item-streamer.ts),
// which emits the same events as deltas arrive; the package index leaves them out. Like every
// builder, these make events without sequence numbers (see events.ts).

// ---- Parts: the shared shapes of part-level events ----

/** Parts whose text streams as deltas, each with its own delta/done event names. */
export type TextPartKind = 'output_text' | 'refusal' | 'reasoning_text' | 'summary_text';
export type TextPart = OutputTextPart | RefusalPart | ReasoningTextPart | SummaryTextPart;

export interface PartLocation {
  itemId: string;
  outputIndex: number;
  /** content_index, or summary_index for summary parts. */
  index: number;
}

export function partText(part: TextPart): string {
  return part.type === 'refusal' ? part.refusal : part.text;
}

/** The part as built from streamed text alone (no annotations: they come with the item). */
export function partWithText(kind: TextPartKind, text: string): TextPart {
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

export function partAdded(kind: TextPartKind, at: PartLocation): UnsequencedEvent {
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

export function partDelta(kind: TextPartKind, at: PartLocation, delta: string): UnsequencedEvent {
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
export function partClosed(at: PartLocation, part: TextPart): UnsequencedEvent[] {
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

export const wholeText: TextSplitter = (text) => [text];

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

export function textPartEvents(
  at: PartLocation,
  part: TextPart,
  split: TextSplitter,
): UnsequencedEvent[] {
  return [
    partAdded(part.type, at),
    ...deltasOf(partText(part), split).map((delta) => partDelta(part.type, at, delta)),
    ...partClosed(at, part),
  ];
}

export function isTextPart(part: StreamContentPart): part is OutputTextPart | RefusalPart {
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

export function itemAdded(outputIndex: number, item: Item): UnsequencedEvent {
  return { type: 'response.output_item.added', output_index: outputIndex, item };
}

export function itemDone(outputIndex: number, item: Item): UnsequencedEvent {
  return { type: 'response.output_item.done', output_index: outputIndex, item };
}

export function argumentsDone(outputIndex: number, call: FunctionCallItem): UnsequencedEvent {
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

export function callArgumentsDelta(
  outputIndex: number,
  itemId: string,
  delta: string,
): UnsequencedEvent {
  return {
    type: 'response.mcp_call_arguments.delta',
    item_id: itemId,
    output_index: outputIndex,
    delta,
  };
}

/** A server call's arguments are complete and it starts to run. */
export function callStarted(outputIndex: number, call: McpCallItem): UnsequencedEvent[] {
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
export function callEnded(outputIndex: number, call: McpCallItem): UnsequencedEvent[] {
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
export function listingEvents(outputIndex: number, item: McpListToolsItem): UnsequencedEvent[] {
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
export function openingItem(item: Item): Item {
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

export function reasoningSkeleton(id: string, withContent: boolean): ReasoningItem {
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

export function assertFinished(item: Item): void {
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
