import { createHash } from 'node:crypto';
import type { ContentPart, FunctionCallItem, ModelItem, MessageItem } from '@ratchet/core';
import { toolOutputText } from './item-text';
import {
  type ChatAssistantMessage,
  type ChatCompletionRequest,
  type ChatContentPart,
  type ChatMessage,
  type ChatResponseFormat,
  type ChatTool,
  type ChatToolChoice,
} from './openai-chat.wire';
import {
  type ModelCallRequest,
  type TextFormat,
  type ToolChoice,
  type ToolDefinition,
  UpstreamError,
} from './provider';

// ModelCallRequest -> Chat Completions request body. Shared by the non-streaming call and the
// streaming one (chosen by `onDelta`), which only adds `stream` options on top.

/** Which parameter carries the output token limit: OpenAI's current name or the older one. */
export type MaxTokensParameter = 'max_completion_tokens' | 'max_tokens';

/** What a Chat Completions upstream takes beyond the common ground. */
export interface ChatDialect {
  /** Whether it takes `verbosity` (OpenAI's GPT-5 models do; most other servers do not). */
  verbosity?: boolean;
}

export function encodeChatRequest(
  request: ModelCallRequest,
  maxTokensParameter: MaxTokensParameter = 'max_completion_tokens',
  dialect: ChatDialect = {},
): ChatCompletionRequest {
  const body: ChatCompletionRequest = {
    model: request.model,
    messages: encodeMessages(request.instructions, request.input),
    prompt_cache_key: request.promptCacheKey ?? promptCacheKey(request),
  };
  // OpenAI rejects tool_choice and parallel_tool_calls when no tools are offered.
  if (request.tools.length > 0) {
    body.tools = request.tools.map(encodeTool);
    body.tool_choice = encodeToolChoice(request.toolChoice);
    body.parallel_tool_calls = request.parallelToolCalls;
  }
  if (request.maxOutputTokens !== null) body[maxTokensParameter] = request.maxOutputTokens;
  if (request.reasoningEffort) body.reasoning_effort = request.reasoningEffort;
  if (request.temperature !== null) body.temperature = request.temperature;
  if (request.topP !== null) body.top_p = request.topP;
  const responseFormat = request.textFormat && encodeTextFormat(request.textFormat);
  if (responseFormat) body.response_format = responseFormat;
  // A hint about length, dropped for upstreams that would refuse the whole request over it.
  if (request.verbosity && dialect.verbosity) body.verbosity = request.verbosity;
  if (request.user) body.user = request.user;
  if (request.safetyIdentifier) body.safety_identifier = request.safetyIdentifier;
  if (request.onDelta) {
    body.stream = true;
    // Usage arrives only in a final usage-only chunk, and only when asked for.
    body.stream_options = { include_usage: true };
  }
  return body;
}

/**
 * A cache key that is the same for every call sharing the prompt's stable head (model,
 * instructions, tools), so an upstream with prompt caching sends them to the same cache.
 */
export function promptCacheKey(request: ModelCallRequest): string {
  const head = JSON.stringify([request.model, request.instructions, request.tools]);
  return `ratchet-${createHash('sha256').update(head).digest('hex').slice(0, 32)}`;
}

function encodeMessages(instructions: string | null, input: readonly ModelItem[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (instructions) messages.push({ role: 'system', content: instructions });
  // Tool messages can only carry text, and the tool messages answering one assistant turn
  // must follow it directly; images and files a tool returned go in a user message after them.
  let attachments: ChatContentPart[] = [];
  const flushAttachments = (): void => {
    if (attachments.length > 0) messages.push({ role: 'user', content: attachments });
    attachments = [];
  };
  for (const item of input) {
    if (item.type !== 'function_call_output') flushAttachments();
    switch (item.type) {
      case 'message':
        messages.push(encodeMessage(item));
        break;
      case 'function_call':
        appendToolCall(messages, item);
        break;
      case 'function_call_output': {
        const files = typeof item.output === 'string' ? [] : item.output.filter(isAttachment);
        const note = files.length
          ? `\n[${files.length} attachment(s) of this result follow in the next user message]`
          : '';
        messages.push({
          role: 'tool',
          tool_call_id: item.call_id,
          content: toolOutputText(item.output) + note,
        });
        if (files.length > 0) {
          attachments.push(
            { type: 'text', text: `Attachments returned by tool call ${item.call_id}:` },
            ...files.map(encodePart),
          );
        }
        break;
      }
      case 'reasoning':
        // Chat Completions has no way to hand reasoning back to the model.
        break;
    }
  }
  flushAttachments();
  return messages;
}

function isAttachment(part: ContentPart): boolean {
  return part.type === 'input_image' || part.type === 'input_file';
}

function encodeMessage(item: MessageItem): ChatMessage {
  const content = encodeContent(item.content);
  switch (item.role) {
    case 'system':
    case 'developer':
      // Many OpenAI-compatible servers do not know the newer `developer` role.
      return { role: 'system', content };
    case 'user':
      return { role: 'user', content };
    case 'assistant':
      return { role: 'assistant', content };
  }
}

/**
 * Consecutive function calls are one assistant turn in Chat Completions: each call joins the
 * assistant message just before it (a text message, or the calls' own message).
 */
function appendToolCall(messages: ChatMessage[], call: FunctionCallItem): void {
  const toolCall = {
    id: call.call_id,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  };
  const previous = messages.at(-1);
  if (previous?.role === 'assistant') {
    withToolCalls(previous).push(toolCall);
  } else {
    messages.push({ role: 'assistant', content: null, tool_calls: [toolCall] });
  }
}

function withToolCalls(
  message: ChatAssistantMessage,
): NonNullable<ChatAssistantMessage['tool_calls']> {
  // An assistant turn that is only tool calls carries null content, not an empty string.
  if (message.content === '') message.content = null;
  message.tool_calls ??= [];
  return message.tool_calls;
}

/** A message whose parts are all text goes as a plain string, which every server accepts. */
function encodeContent(parts: readonly ContentPart[]): string | ChatContentPart[] {
  const encoded = parts.map(encodePart);
  if (encoded.every((part) => part.type === 'text')) {
    return encoded.map((part) => part.text).join('');
  }
  return encoded;
}

function encodePart(part: ContentPart): ChatContentPart {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'text', text: part.refusal };
    case 'input_image':
      if (!part.image_url) {
        throw unsupportedInput('input_image needs image_url: Chat Completions cannot use file_id');
      }
      return { type: 'image_url', image_url: { url: part.image_url, detail: part.detail } };
    case 'input_file':
      return encodeFilePart(part);
  }
}

function encodeFilePart(part: Extract<ContentPart, { type: 'input_file' }>): ChatContentPart {
  if (!part.file_id && !part.file_data) {
    throw unsupportedInput(
      'input_file needs file_id or file_data: Chat Completions has no file_url',
    );
  }
  const file: Extract<ChatContentPart, { type: 'file' }>['file'] = {};
  if (part.file_id) file.file_id = part.file_id;
  if (part.file_data) file.file_data = part.file_data;
  if (part.filename) file.filename = part.filename;
  return { type: 'file', file };
}

function unsupportedInput(message: string): UpstreamError {
  return new UpstreamError(`Unsupported input for this model: ${message}.`, {
    code: 'unsupported_input',
    retryable: false,
  });
}

function encodeTool(tool: ToolDefinition): ChatTool {
  const fn: ChatTool['function'] = { name: tool.name };
  if (tool.description !== null) fn.description = tool.description;
  if (tool.parameters !== null) fn.parameters = tool.parameters;
  if (tool.strict !== null) fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function encodeToolChoice(choice: ToolChoice): ChatToolChoice {
  if (typeof choice === 'string') return choice;
  return { type: 'function', function: { name: choice.name } };
}

function encodeTextFormat(format: TextFormat): ChatResponseFormat | null {
  switch (format.type) {
    case 'text':
      return null;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const jsonSchema: Extract<ChatResponseFormat, { type: 'json_schema' }>['json_schema'] = {
        name: format.name,
        schema: format.schema,
      };
      if (format.strict !== undefined && format.strict !== null) jsonSchema.strict = format.strict;
      if (format.description !== undefined) jsonSchema.description = format.description;
      return { type: 'json_schema', json_schema: jsonSchema };
    }
  }
}
