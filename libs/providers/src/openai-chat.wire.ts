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
  temperature?: number;
  top_p?: number;
  response_format?: ChatResponseFormat;
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

/** OpenAI's error envelope; some compatible servers send `error` as a bare string. */
export const chatErrorBodySchema = z.looseObject({
  error: z.union([
    z.string(),
    z.looseObject({ message: z.string(), code: z.unknown().optional() }),
  ]),
});
