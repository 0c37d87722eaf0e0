import { visibleItem } from './include';
import type { Item } from './items';
import { conversationIdOf, type CreateResponseRequest, type ToolChoiceParam } from './request';
import type { Usage } from './usage';

// The Response object of the Responses API, assembled from what the store holds. Every one
// of the 31 keys the Open Responses schema requires is present; nullable ones are null.

export type ResponseStatus =
  'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'incomplete';

export function isTerminalStatus(status: ResponseStatus): boolean {
  switch (status) {
    case 'completed':
    case 'failed':
    case 'cancelled':
    case 'incomplete':
      return true;
    case 'queued':
    case 'in_progress':
      return false;
  }
}

export interface ResponseError {
  code: string;
  message: string;
}

export interface IncompleteDetails {
  reason: string;
}

export interface FunctionTool {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

/** A tool as the Response echoes it: MCP servers a request named show without headers. */
export type ResponseTool =
  | FunctionTool
  | {
      type: 'mcp';
      server_label: string;
      server_url: string;
      allowed_tools: string[] | null;
      require_approval:
        | 'always'
        | 'never'
        | { always?: { tool_names: string[] }; never?: { tool_names: string[] } };
      server_description: string | null;
    };

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  completed_at: number | null;
  status: ResponseStatus;
  incomplete_details: IncompleteDetails | null;
  model: string;
  previous_response_id: string | null;
  /** Only on a response created in a conversation, as OpenAI shows it. */
  conversation?: { id: string };
  instructions: string | null;
  output: Item[];
  error: ResponseError | null;
  tools: ResponseTool[];
  tool_choice: ToolChoiceParam;
  truncation: 'auto' | 'disabled';
  parallel_tool_calls: boolean;
  text: {
    format: NonNullable<NonNullable<CreateResponseRequest['text']>['format']>;
    verbosity: 'low' | 'medium' | 'high';
  };
  top_p: number;
  presence_penalty: number;
  frequency_penalty: number;
  top_logprobs: number;
  temperature: number;
  reasoning: { effort: string | null; summary: string | null } | null;
  usage: Usage | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  store: boolean;
  background: boolean;
  service_tier: string;
  metadata: Record<string, string>;
  safety_identifier: string | null;
  prompt_cache_key: string | null;
  /** OpenAI's (deprecated, superseded by safety_identifier) end-user id, as the request gave it. */
  user: string | null;
}

/**
 * A request as a response keeps it: all but its input, whose items the response's input items
 * hold (what input_items lists; the top scope holds what the model is given).
 */
export type StoredRequest = Omit<CreateResponseRequest, 'input'>;

/** The request to keep of `request`: without its input. */
export function storedRequest(request: CreateResponseRequest): StoredRequest {
  const { input: _input, ...kept } = request;
  return kept;
}

/** What the store keeps of a response, in plain data. */
export interface ResponseRecord {
  id: string;
  status: ResponseStatus;
  model: string;
  request: StoredRequest;
  /** The tools offered, with server-side definitions filled in from the config. */
  tools: ResponseTool[];
  output: Item[] | null;
  error: ResponseError | null;
  incompleteDetails: IncompleteDetails | null;
  usage: Usage | null;
  createdAt: Date;
  completedAt: Date | null;
}

const unixSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

export function assembleResponse(record: ResponseRecord): ResponseObject {
  const request = record.request;
  const conversationId = conversationIdOf(request);
  return {
    id: record.id,
    object: 'response',
    created_at: unixSeconds(record.createdAt),
    completed_at: record.completedAt ? unixSeconds(record.completedAt) : null,
    status: record.status,
    incomplete_details: record.incompleteDetails,
    model: record.model,
    previous_response_id: request.previous_response_id ?? null,
    ...(conversationId === null ? {} : { conversation: { id: conversationId } }),
    instructions: request.instructions ?? null,
    output: (record.output ?? []).map((item) => visibleItem(item, request.include)),
    error: record.error,
    tools: record.tools,
    tool_choice: request.tool_choice ?? 'auto',
    truncation: request.truncation ?? 'disabled',
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    text: {
      format: request.text?.format ?? { type: 'text' },
      verbosity: request.text?.verbosity ?? 'medium',
    },
    top_p: request.top_p ?? 1,
    presence_penalty: request.presence_penalty ?? 0,
    frequency_penalty: request.frequency_penalty ?? 0,
    top_logprobs: request.top_logprobs ?? 0,
    temperature: request.temperature ?? 1,
    reasoning: request.reasoning
      ? { effort: request.reasoning.effort ?? null, summary: request.reasoning.summary ?? null }
      : null,
    usage: record.usage,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    store: request.store ?? true,
    background: request.background ?? false,
    service_tier:
      request.service_tier && request.service_tier !== 'auto' ? request.service_tier : 'default',
    metadata: request.metadata ?? {},
    safety_identifier: request.safety_identifier ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    user: request.user ?? null,
  };
}
