import { createHash } from 'node:crypto';
import type {
  ContentPart,
  FunctionCallItem,
  FunctionCallOutputItem,
  ModelItem,
} from '@ratchet/core';
import {
  type AnthropicContentBlock,
  type AnthropicDocumentBlock,
  type AnthropicImageBlock,
  type AnthropicMessage,
  type AnthropicMessagesRequest,
  type AnthropicTextBlock,
  type AnthropicTool,
  type AnthropicToolChoice,
  type AnthropicToolResultBlock,
} from './anthropic.wire';
import { decodeThinking } from './anthropic.thinking';
import { contentText } from './item-text';
import {
  type ModelCallRequest,
  type ToolChoice,
  type ToolDefinition,
  UpstreamError,
} from './provider';

// ModelCallRequest -> Messages API request body, for both the plain and the streaming call.

/** Anthropic requires `max_tokens`; this is used when the request sets no limit. */
export const DEFAULT_MAX_TOKENS = 4096;

export function encodeAnthropicRequest(request: ModelCallRequest): AnthropicMessagesRequest {
  if (request.textFormat && request.textFormat.type !== 'text') {
    // The Messages API has no response_format; ignoring it would hand back unchecked prose to
    // a caller that relies on JSON.
    throw unsupportedInput(
      `text.format '${request.textFormat.type}' is not available on the Anthropic Messages API`,
    );
  }
  const body: AnthropicMessagesRequest = {
    model: request.model,
    max_tokens: request.maxOutputTokens ?? DEFAULT_MAX_TOKENS,
    messages: encodeMessages(request.input, request.model),
  };
  const system = encodeSystem(request.instructions, request.input);
  if (system) body.system = system;
  if (request.tools.length > 0) {
    body.tools = request.tools.map(encodeTool);
    body.tool_choice = encodeToolChoice(request.toolChoice, request.parallelToolCalls);
  }
  if (request.temperature !== null) body.temperature = request.temperature;
  if (request.topP !== null) body.top_p = request.topP;
  if (request.onDelta) body.stream = true;
  const userId = endUserId(request);
  if (userId) body.metadata = { user_id: userId };
  return body;
}

/** Anthropic's limit on `metadata.user_id`. */
const MAX_USER_ID_LENGTH = 256;

/**
 * The end user's id for `metadata.user_id`: the request's safety_identifier, else its user.
 * Anthropic wants an opaque id of at most 256 characters; a longer one goes as its SHA-256.
 */
function endUserId(request: ModelCallRequest): string | null {
  const id = request.safetyIdentifier || request.user;
  if (!id) return null;
  return id.length <= MAX_USER_ID_LENGTH ? id : createHash('sha256').update(id).digest('hex');
}

/**
 * Anthropic takes system text only at the top level, so instructions and every system or
 * developer message are lifted there, in order.
 */
function encodeSystem(instructions: string | null, input: readonly ModelItem[]): string {
  const texts: string[] = [];
  if (instructions) texts.push(instructions);
  for (const item of input) {
    if (item.type === 'message' && (item.role === 'system' || item.role === 'developer')) {
      const text = contentText(item.content);
      if (text) texts.push(text);
    }
  }
  return texts.join('\n\n');
}

function encodeMessages(input: readonly ModelItem[], model: string): AnthropicMessage[] {
  const messages: AnthropicMessage[] = [];
  for (const item of input) {
    switch (item.type) {
      case 'message':
        if (item.role === 'user' || item.role === 'assistant') {
          appendBlocks(messages, item.role, item.content.flatMap(encodePart));
        }
        break;
      case 'function_call':
        appendBlocks(messages, 'assistant', [encodeToolUse(item)]);
        break;
      case 'function_call_output':
        appendBlocks(messages, 'user', [encodeToolResult(item)]);
        break;
      case 'reasoning': {
        // Thinking goes back only as the block this model wrote, signature and all (sealed in
        // encrypted_content); other reasoning (another model's, or plain text) cannot.
        const block = item.encrypted_content ? decodeThinking(item.encrypted_content, model) : null;
        if (block) appendBlocks(messages, 'assistant', [block]);
        break;
      }
    }
  }
  return messages;
}

/**
 * Anthropic requires user and assistant turns to alternate, so blocks for the same role as
 * the last message join it: text then tool calls form one assistant turn, and several tool
 * results (plus any user text after them) one user turn.
 */
function appendBlocks(
  messages: AnthropicMessage[],
  role: AnthropicMessage['role'],
  blocks: AnthropicContentBlock[],
): void {
  // An empty message cannot be sent (Anthropic rejects empty content), and skipping it keeps
  // its neighbours mergeable.
  if (blocks.length === 0) return;
  const previous = messages.at(-1);
  if (previous?.role !== role) {
    messages.push({ role, content: blocks });
    return;
  }
  for (const block of blocks) {
    if (block.type === 'tool_result') {
      // Tool results must open the user turn that answers the tool calls, so one arriving
      // after user text still goes before it.
      const firstOther = previous.content.findIndex((existing) => existing.type !== 'tool_result');
      previous.content.splice(firstOther === -1 ? previous.content.length : firstOther, 0, block);
    } else {
      previous.content.push(block);
    }
  }
}

function encodeToolUse(call: FunctionCallItem): AnthropicContentBlock {
  return { type: 'tool_use', id: call.call_id, name: call.name, input: parseToolInput(call) };
}

/**
 * Anthropic wants the call's input as an object. Arguments that are not a JSON object (a
 * model cut off mid-call, say) go as `{}` rather than under an invented key the model might
 * learn to imitate; the paired tool result already tells the model what went wrong.
 */
function parseToolInput(call: FunctionCallItem): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(call.arguments);
  } catch {
    return {};
  }
  return isPlainObject(parsed) ? parsed : {};
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function encodeToolResult(output: FunctionCallOutputItem): AnthropicToolResultBlock {
  if (typeof output.output === 'string') {
    return { type: 'tool_result', tool_use_id: output.call_id, content: output.output };
  }
  // Tool results take only text and image blocks; files are flattened away like other text views.
  const content = output.output.flatMap(encodePart).filter(isToolResultContent);
  return { type: 'tool_result', tool_use_id: output.call_id, content };
}

function isToolResultContent(
  block: AnthropicContentBlock,
): block is AnthropicTextBlock | AnthropicImageBlock {
  return block.type === 'text' || block.type === 'image';
}

/** Zero blocks for empty text: Anthropic rejects empty text blocks. */
function encodePart(part: ContentPart): AnthropicContentBlock[] {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return part.text ? [{ type: 'text', text: part.text }] : [];
    case 'refusal':
      return part.refusal ? [{ type: 'text', text: part.refusal }] : [];
    case 'input_image':
      return [encodeImage(part)];
    case 'input_file':
      return [encodeFile(part)];
  }
}

function encodeImage(part: Extract<ContentPart, { type: 'input_image' }>): AnthropicImageBlock {
  if (!part.image_url) {
    throw unsupportedInput('input_image needs image_url: Anthropic cannot use file_id');
  }
  if (!part.image_url.startsWith('data:')) {
    return { type: 'image', source: { type: 'url', url: part.image_url } };
  }
  const data = parseBase64DataUrl(part.image_url);
  if (!data) throw unsupportedInput('input_image data URLs must be base64-encoded');
  return { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
}

function encodeFile(part: Extract<ContentPart, { type: 'input_file' }>): AnthropicDocumentBlock {
  const block: AnthropicDocumentBlock = part.file_url
    ? { type: 'document', source: { type: 'url', url: part.file_url } }
    : { type: 'document', source: pdfSource(part.file_data) };
  if (part.filename) block.title = part.filename;
  return block;
}

function pdfSource(fileData: string | null | undefined): AnthropicDocumentBlock['source'] {
  const data = fileData ? parseBase64DataUrl(fileData) : null;
  if (data?.mediaType !== 'application/pdf') {
    throw unsupportedInput(
      'input_file needs file_url or file_data as a base64 PDF data URL: Anthropic cannot use ' +
        'file_id or other file types',
    );
  }
  return { type: 'base64', media_type: 'application/pdf', data: data.data };
}

function parseBase64DataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+)(?:;[^;,=]+=[^;,]*)*;base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1].toLowerCase(), data: match[2] } : null;
}

function unsupportedInput(message: string): UpstreamError {
  return new UpstreamError(`Unsupported input for this model: ${message}.`, {
    code: 'unsupported_input',
    retryable: false,
  });
}

function encodeTool(tool: ToolDefinition): AnthropicTool {
  // input_schema is required; a tool without parameters takes an empty object.
  const encoded: AnthropicTool = {
    name: tool.name,
    input_schema: tool.parameters ?? { type: 'object', properties: {} },
  };
  if (tool.description !== null) encoded.description = tool.description;
  return encoded;
}

function encodeToolChoice(choice: ToolChoice, parallelToolCalls: boolean): AnthropicToolChoice {
  if (choice === 'none') return { type: 'none' };
  const encoded: AnthropicToolChoice =
    choice === 'auto'
      ? { type: 'auto' }
      : choice === 'required'
        ? { type: 'any' }
        : { type: 'tool', name: choice.name };
  // Anthropic's default is parallel calls allowed, so the flag goes only when they are not.
  if (!parallelToolCalls) encoded.disable_parallel_tool_use = true;
  return encoded;
}
