import type { ContentPart, ModelItem } from '@ratchet/core';
import { isEncodedThinking } from './anthropic.thinking';
import {
  type ResponsesInputContent,
  type ResponsesInputItem,
  type ResponsesRequest,
  type ResponsesTextFormat,
  type ResponsesTool,
} from './openai-responses.wire';
import type { ModelCallRequest, TextFormat, ToolDefinition } from './provider';

// ModelCallRequest -> Responses API request body. Ratchet's items already are Responses
// items, so encoding is mostly leaving out what only ratchet knows: item ids (ratchet's own,
// which an upstream running with store=false would take for references to items it never
// stored) and statuses (the upstream's view of its output, not part of the input).

/** What a Responses API upstream takes beyond the common ground. */
export interface ResponsesDialect {
  /** Whether it takes `text.verbosity` (OpenAI's models before GPT-5 refuse it). */
  verbosity?: boolean;
}

export function encodeResponsesRequest(
  request: ModelCallRequest,
  dialect: ResponsesDialect = { verbosity: true },
): ResponsesRequest {
  const body: ResponsesRequest = {
    model: request.model,
    input: encodeInput(request.input),
    // Ratchet stores the conversation and replays it each step; a stored copy upstream would
    // only cost the operator data retention.
    store: false,
    // A caller listening for deltas gets them from the upstream's event stream.
    stream: request.onDelta !== undefined,
  };
  if (request.instructions) body.instructions = request.instructions;
  // OpenAI rejects tool_choice naming a function when no tools are offered; parallel_tool_calls
  // means nothing without tools either.
  if (request.tools.length > 0) {
    body.tools = request.tools.map(encodeTool);
    body.tool_choice = request.toolChoice;
    body.parallel_tool_calls = request.parallelToolCalls;
  }
  if (request.maxOutputTokens !== null) body.max_output_tokens = request.maxOutputTokens;
  if (request.reasoningEffort) body.reasoning = { effort: request.reasoningEffort };
  if (request.temperature !== null) body.temperature = request.temperature;
  if (request.topP !== null) body.top_p = request.topP;
  const format = request.textFormat && encodeTextFormat(request.textFormat);
  if (format) body.text = { format };
  // A hint about length, dropped for models that would refuse the whole request over it.
  if (request.verbosity && dialect.verbosity) {
    body.text = { ...body.text, verbosity: request.verbosity };
  }
  // Encrypted reasoning is what lets a store:false upstream read its reasoning again; it is
  // asked for only when the client asked, since not every model behind this API returns it.
  if (request.includeEncryptedReasoning) body.include = ['reasoning.encrypted_content'];
  if (request.user) body.user = request.user;
  if (request.safetyIdentifier) body.safety_identifier = request.safetyIdentifier;
  return body;
}

function encodeInput(items: readonly ModelItem[]): ResponsesInputItem[] {
  const input: ResponsesInputItem[] = [];
  for (const item of items) {
    switch (item.type) {
      case 'message': {
        const message: Extract<ResponsesInputItem, { type: 'message' }> = {
          type: 'message',
          role: item.role,
          content: item.content.map(encodePart),
        };
        // Models that label their messages read the labels back; OpenAI asks clients to
        // resend them on every assistant message.
        if (item.phase && item.role === 'assistant') message.phase = item.phase;
        input.push(message);
        break;
      }
      case 'function_call':
        input.push({
          type: 'function_call',
          call_id: item.call_id,
          name: item.name,
          arguments: item.arguments,
        });
        break;
      case 'function_call_output':
        input.push({
          type: 'function_call_output',
          call_id: item.call_id,
          output: typeof item.output === 'string' ? item.output : item.output.map(encodePart),
        });
        break;
      case 'reasoning':
        // Without store, the only reasoning an upstream takes back is its own encrypted
        // content; plain reasoning text (from this or another provider) it would reject or
        // misread as a reference, so that is left out, as Chat Completions leaves it out.
        // Anthropic's sealed thinking is encrypted content too, but not this upstream's.
        if (item.encrypted_content && !isEncodedThinking(item.encrypted_content)) {
          input.push({
            type: 'reasoning',
            summary: item.summary,
            encrypted_content: item.encrypted_content,
          });
        }
        break;
    }
  }
  return input;
}

/** A part without its null fields and logprobs, which input parts do not have. */
function encodePart(part: ContentPart): ResponsesInputContent {
  switch (part.type) {
    case 'input_text':
      return { type: 'input_text', text: part.text };
    case 'output_text':
      return part.annotations.length > 0
        ? { type: 'output_text', text: part.text, annotations: part.annotations }
        : { type: 'output_text', text: part.text };
    case 'refusal':
      return { type: 'refusal', refusal: part.refusal };
    case 'input_image': {
      const image: Extract<ResponsesInputContent, { type: 'input_image' }> = {
        type: 'input_image',
        detail: part.detail,
      };
      if (part.image_url) image.image_url = part.image_url;
      if (part.file_id) image.file_id = part.file_id;
      return image;
    }
    case 'input_file': {
      const file: Extract<ResponsesInputContent, { type: 'input_file' }> = { type: 'input_file' };
      if (part.file_id) file.file_id = part.file_id;
      if (part.file_data) file.file_data = part.file_data;
      if (part.file_url) file.file_url = part.file_url;
      if (part.filename) file.filename = part.filename;
      return file;
    }
  }
}

function encodeTool(tool: ToolDefinition): ResponsesTool {
  const encoded: ResponsesTool = { type: 'function', name: tool.name };
  // Nulls are left out rather than sent: a strict upstream validator may refuse them.
  if (tool.description !== null) encoded.description = tool.description;
  if (tool.parameters !== null) encoded.parameters = tool.parameters;
  if (tool.strict !== null) encoded.strict = tool.strict;
  return encoded;
}

function encodeTextFormat(format: TextFormat): ResponsesTextFormat | null {
  switch (format.type) {
    case 'text':
      // Plain text is the default; leaving it out keeps servers without `text` support happy.
      return null;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const encoded: Extract<ResponsesTextFormat, { type: 'json_schema' }> = {
        type: 'json_schema',
        name: format.name,
        schema: format.schema,
      };
      if (format.description !== undefined) encoded.description = format.description;
      if (format.strict !== undefined && format.strict !== null) encoded.strict = format.strict;
      return encoded;
    }
  }
}
