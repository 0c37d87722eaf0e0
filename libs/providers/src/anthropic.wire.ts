import { z } from 'zod';

// The Anthropic Messages API wire format (`anthropic-version: 2023-06-01`), as much of it as
// ratchet speaks. Request types are what the encoder builds; response and stream schemas are
// loose (unknown fields pass, unknown block and event types are skipped by the decoders)
// because Anthropic adds block types, delta types and usage fields over time.

export const ANTHROPIC_VERSION = '2023-06-01';

export type AnthropicImageSource =
  { type: 'url'; url: string } | { type: 'base64'; media_type: string; data: string };

export type AnthropicDocumentSource =
  { type: 'url'; url: string } | { type: 'base64'; media_type: 'application/pdf'; data: string };

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}

export interface AnthropicImageBlock {
  type: 'image';
  source: AnthropicImageSource;
}

export interface AnthropicDocumentBlock {
  type: 'document';
  source: AnthropicDocumentSource;
  title?: string;
}

export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string | (AnthropicTextBlock | AnthropicImageBlock)[];
}

export interface AnthropicThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface AnthropicRedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}

export type AnthropicContentBlock =
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicDocumentBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicMessagesRequest {
  model: string;
  max_tokens: number;
  system?: string;
  messages: AnthropicMessage[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  temperature?: number;
  top_p?: number;
  stream?: boolean;
  /** `user_id`: an opaque id of the end user, for Anthropic's abuse detection. */
  metadata?: { user_id: string };
}

const tokenCount = z.number().int().nonnegative().nullish();

export const anthropicUsageSchema = z.looseObject({
  input_tokens: tokenCount,
  output_tokens: tokenCount,
  cache_creation_input_tokens: tokenCount,
  cache_read_input_tokens: tokenCount,
});
export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>;

export const anthropicTextBlockSchema = z.looseObject({
  type: z.literal('text'),
  text: z.string(),
});
export const anthropicThinkingBlockSchema = z.looseObject({
  type: z.literal('thinking'),
  thinking: z.string(),
  /** What lets the block go back to the API; servers imitating Anthropic may leave it out. */
  signature: z.string().nullish(),
});
export const anthropicRedactedThinkingBlockSchema = z.looseObject({
  type: z.literal('redacted_thinking'),
  data: z.string(),
});
export const anthropicToolUseBlockSchema = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.unknown(),
});

/** A response content block ratchet decodes; anything else (server tools...) is skipped. */
export const anthropicResponseBlockSchema = z.discriminatedUnion('type', [
  anthropicTextBlockSchema,
  anthropicThinkingBlockSchema,
  anthropicRedactedThinkingBlockSchema,
  anthropicToolUseBlockSchema,
]);
export type AnthropicResponseBlock = z.infer<typeof anthropicResponseBlockSchema>;

export const anthropicMessageSchema = z.looseObject({
  type: z.literal('message').optional(),
  // Blocks are checked one by one so an unknown block type does not reject the whole reply.
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullish(),
  usage: anthropicUsageSchema.nullish(),
});

// ---- Streaming events (`stream: true`) ----

export const messageStartEventSchema = z.looseObject({
  type: z.literal('message_start'),
  message: z.looseObject({ usage: anthropicUsageSchema.nullish() }),
});

export const contentBlockStartEventSchema = z.looseObject({
  type: z.literal('content_block_start'),
  index: z.number().int().nonnegative(),
  content_block: z.looseObject({ type: z.string() }),
});

export const contentBlockDeltaEventSchema = z.looseObject({
  type: z.literal('content_block_delta'),
  index: z.number().int().nonnegative(),
  delta: z.looseObject({ type: z.string() }),
});

export const textDeltaSchema = z.looseObject({ type: z.literal('text_delta'), text: z.string() });
export const inputJsonDeltaSchema = z.looseObject({
  type: z.literal('input_json_delta'),
  partial_json: z.string(),
});
export const thinkingDeltaSchema = z.looseObject({
  type: z.literal('thinking_delta'),
  thinking: z.string(),
});
/** A thinking block's signature, streamed just before the block stops. */
export const signatureDeltaSchema = z.looseObject({
  type: z.literal('signature_delta'),
  signature: z.string(),
});

export const contentBlockStopEventSchema = z.looseObject({
  type: z.literal('content_block_stop'),
  index: z.number().int().nonnegative(),
});

export const messageDeltaEventSchema = z.looseObject({
  type: z.literal('message_delta'),
  delta: z.looseObject({ stop_reason: z.string().nullish() }).nullish(),
  usage: anthropicUsageSchema.nullish(),
});

/** Anthropic's error envelope, both as an HTTP error body and as an `error` stream event. */
export const anthropicErrorBodySchema = z.looseObject({
  type: z.literal('error'),
  error: z.looseObject({ type: z.string(), message: z.string() }),
});
