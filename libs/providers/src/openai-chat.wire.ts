import { z } from 'zod';

// The Chat Completions wire format, as much of it as ratchet speaks. Request types are what
// the encoder builds; response schemas are deliberately loose (unknown fields pass, most
// fields nullish) because OpenAI-compatible servers differ in what they leave out.

export type ChatContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail: 'low' | 'high' | 'auto' } }
  | { type: 'file'; file: { file_id?: string; file_data?: string; filename?: string } };

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string | ChatContentPart[] }
  | { role: 'assistant'; content: string | ChatContentPart[] | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export type ChatAssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;

export interface ChatTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export type ChatToolChoice =
  'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ChatResponseFormat =
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      json_schema: {
        name: string;
        schema: Record<string, unknown>;
        strict?: boolean;
        description?: string;
      };
    };

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  tools?: ChatTool[];
  tool_choice?: ChatToolChoice;
  parallel_tool_calls?: boolean;
  max_completion_tokens?: number;
  /** Older servers and dialects (vLLM before 0.6, some proxies) know only this name. */
  max_tokens?: number;
  reasoning_effort?: string;
  /** Routes requests that share a prefix to the same cache (OpenAI prompt caching). */
  prompt_cache_key?: string;
  temperature?: number;
  top_p?: number;
  response_format?: ChatResponseFormat;
  /** OpenAI's GPT-5 models: how long an answer to write. */
  verbosity?: 'low' | 'medium' | 'high';
  /** The end user (OpenAI's older field, known to most compatible servers). */
  user?: string;
  /** The end user, as OpenAI's newer field names them. */
  safety_identifier?: string;
  stream?: boolean;
  /** Asks for a final usage-only chunk; without it a streamed reply reports no usage. */
  stream_options?: { include_usage: boolean };
}

const tokenCount = z.number().int().nonnegative().nullish();

export const chatUsageSchema = z.looseObject({
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  total_tokens: tokenCount,
  prompt_tokens_details: z.looseObject({ cached_tokens: tokenCount }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: tokenCount }).nullish(),
});
export type ChatUsage = z.infer<typeof chatUsageSchema>;

const chatToolCallSchema = z.looseObject({
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z.looseObject({ name: z.string(), arguments: z.string().nullish() }),
});

export const chatResponseMessageSchema = z.looseObject({
  role: z.string().nullish(),
  content: z.string().nullish(),
  refusal: z.string().nullish(),
  /** Not OpenAI's: DeepSeek, vLLM and others put the model's reasoning here. */
  reasoning_content: z.string().nullish(),
  tool_calls: z.array(chatToolCallSchema).nullish(),
});
export type ChatResponseMessage = z.infer<typeof chatResponseMessageSchema>;

export const chatCompletionSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: chatResponseMessageSchema,
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: chatUsageSchema.nullish(),
});

// A streamed reply is a series of these chunks. Every field of a delta may be missing; a tool
// call's `id` and `name` come only on its first fragment, `index` ties later fragments to it.

const chatToolCallDeltaSchema = z.looseObject({
  index: z.number().int().nonnegative().nullish(),
  id: z.string().nullish(),
  type: z.string().nullish(),
  function: z
    .looseObject({ name: z.string().nullish(), arguments: z.string().nullish() })
    .nullish(),
});
export type ChatToolCallDelta = z.infer<typeof chatToolCallDeltaSchema>;

export const chatChunkDeltaSchema = z.looseObject({
  role: z.string().nullish(),
  content: z.string().nullish(),
  refusal: z.string().nullish(),
  reasoning_content: z.string().nullish(),
  /** Newer vLLM and OpenRouter name the reasoning field `reasoning`. */
  reasoning: z.string().nullish(),
  tool_calls: z.array(chatToolCallDeltaSchema).nullish(),
});
export type ChatChunkDelta = z.infer<typeof chatChunkDeltaSchema>;

export const chatCompletionChunkSchema = z.looseObject({
  // The usage-only final chunk has an empty list; some servers leave the field out.
  choices: z
    .array(
      z.looseObject({
        index: z.number().int().nonnegative().nullish(),
        delta: chatChunkDeltaSchema.nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: chatUsageSchema.nullish(),
});
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;
