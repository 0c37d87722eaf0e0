import { z } from 'zod';

// The Responses API wire format (OpenAI's and Open Responses'), as much of it as ratchet
// speaks to an upstream. Request types are what the encoder builds; response schemas are
// deliberately loose (unknown fields pass, most fields nullish) because compatible servers
// differ in what they leave out.

export type ResponsesInputContent =
  | { type: 'input_text'; text: string }
  | { type: 'input_image'; image_url?: string; file_id?: string; detail: 'low' | 'high' | 'auto' }
  | {
      type: 'input_file';
      file_id?: string;
      file_data?: string;
      file_url?: string;
      filename?: string;
    }
  | { type: 'output_text'; text: string; annotations?: unknown[] }
  | { type: 'refusal'; refusal: string };

export type ResponsesInputItem =
  | {
      type: 'message';
      role: 'user' | 'system' | 'developer' | 'assistant';
      content: ResponsesInputContent[];
      /** Assistant messages only: commentary between tool calls, or the final answer. */
      phase?: 'commentary' | 'final_answer';
    }
  | { type: 'function_call'; call_id: string; name: string; arguments: string }
  | { type: 'function_call_output'; call_id: string; output: string | ResponsesInputContent[] }
  | {
      type: 'reasoning';
      summary: { type: 'summary_text'; text: string }[];
      encrypted_content: string;
    };

export interface ResponsesTool {
  type: 'function';
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean;
}

export type ResponsesToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };

export type ResponsesTextFormat =
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      description?: string;
      strict?: boolean;
    };

export interface ResponsesRequest {
  model: string;
  instructions?: string;
  input: ResponsesInputItem[];
  tools?: ResponsesTool[];
  tool_choice?: ResponsesToolChoice;
  parallel_tool_calls?: boolean;
  max_output_tokens?: number;
  temperature?: number;
  top_p?: number;
  text?: { format?: ResponsesTextFormat; verbosity?: 'low' | 'medium' | 'high' };
  reasoning?: { effort: string };
  /** Only `reasoning.encrypted_content`, and only when the client asked for it. */
  include?: 'reasoning.encrypted_content'[];
  user?: string;
  safety_identifier?: string;
  /** Always false: ratchet keeps the conversation, so the upstream need not (and should not). */
  store: false;
  /** True when the caller listens for deltas: the reply is then an SSE stream of events. */
  stream: boolean;
}

const tokenCount = z.number().int().nonnegative().nullish();

export const responsesUsageSchema = z.looseObject({
  input_tokens: tokenCount,
  output_tokens: tokenCount,
  total_tokens: tokenCount,
  input_tokens_details: z.looseObject({ cached_tokens: tokenCount }).nullish(),
  output_tokens_details: z.looseObject({ reasoning_tokens: tokenCount }).nullish(),
});
export type ResponsesUsage = z.infer<typeof responsesUsageSchema>;

const itemStatusSchema = z.string().nullish();

export const responsesContentPartSchema = z.looseObject({
  type: z.string(),
  text: z.string().nullish(),
  refusal: z.string().nullish(),
  annotations: z.array(z.unknown()).nullish(),
});
export type ResponsesContentPart = z.infer<typeof responsesContentPartSchema>;

const textPartSchema = z.looseObject({ type: z.string(), text: z.string().nullish() });

export const responsesMessageSchema = z.looseObject({
  type: z.literal('message'),
  status: itemStatusSchema,
  content: z.array(responsesContentPartSchema).nullish(),
  /** A label newer models give assistant messages; other values are not ratchet's to keep. */
  phase: z.string().nullish(),
});
export type ResponsesMessage = z.infer<typeof responsesMessageSchema>;

export const responsesFunctionCallSchema = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().nullish(),
  name: z.string(),
  arguments: z.string().nullish(),
  status: itemStatusSchema,
});
export type ResponsesFunctionCall = z.infer<typeof responsesFunctionCallSchema>;

export const responsesReasoningSchema = z.looseObject({
  type: z.literal('reasoning'),
  summary: z.array(textPartSchema).nullish(),
  content: z.array(textPartSchema).nullish(),
  encrypted_content: z.string().nullish(),
});
export type ResponsesReasoning = z.infer<typeof responsesReasoningSchema>;

export const responsesErrorSchema = z.looseObject({
  code: z.string().nullish(),
  message: z.string().nullish(),
});

export const responseResourceSchema = z.looseObject({
  status: z.string().nullish(),
  // Items are checked one by one against their type's schema, so an item of a type ratchet
  // does not know (a hosted tool's call, say) does not fail the whole body.
  output: z.array(z.looseObject({ type: z.string() })),
  incomplete_details: z.looseObject({ reason: z.string().nullish() }).nullish(),
  error: responsesErrorSchema.nullish(),
  usage: responsesUsageSchema.nullish(),
});
export type ResponseResource = z.infer<typeof responseResourceSchema>;

// Streaming (`stream: true`): each SSE event's data is one JSON object with its `type`. Only
// the events ratchet reads have schemas; every other type is skipped.

/** `response.output_item.added`: an item starts; its `id` names it in the deltas that follow. */
export const outputItemAddedEventSchema = z.looseObject({
  output_index: z.number().int().nonnegative().nullish(),
  item: z.looseObject({
    type: z.string(),
    id: z.string().nullish(),
    call_id: z.string().nullish(),
    name: z.string().nullish(),
    phase: z.string().nullish(),
  }),
});

/** `response.output_item.done`: an item is finished, given whole. */
export const outputItemDoneEventSchema = z.looseObject({
  output_index: z.number().int().nonnegative().nullish(),
  item: z.looseObject({ type: z.string(), id: z.string().nullish() }),
});

/** Text, refusal, reasoning and arguments deltas, each naming its item. */
export const itemDeltaEventSchema = z.looseObject({
  item_id: z.string().nullish(),
  output_index: z.number().int().nonnegative().nullish(),
  delta: z.string(),
});
export type ItemDeltaEvent = z.infer<typeof itemDeltaEventSchema>;

/** `response.completed` and `response.incomplete` carry the whole Response. */
export const terminalEventSchema = z.looseObject({ response: responseResourceSchema });

/** `response.failed`: only the Response's error matters. */
export const failedEventSchema = z.looseObject({
  response: z.looseObject({ error: responsesErrorSchema.nullish() }).nullish(),
});

/**
 * An `error` event. OpenAI puts `code` and `message` at the top level; some compatible
 * servers wrap them in an `error` object (with an HTTP status as the code, at times).
 */
export const streamErrorEventSchema = z.looseObject({
  code: z.union([z.string(), z.number()]).nullish(),
  message: z.string().nullish(),
  error: z
    .looseObject({
      code: z.union([z.string(), z.number()]).nullish(),
      message: z.string().nullish(),
      type: z.string().nullish(),
    })
    .nullish(),
});
export type StreamErrorEvent = z.infer<typeof streamErrorEventSchema>;
