import { z } from 'zod';

// Conversation items as the Responses API defines them. Input schemas validate what clients
// send; the output types describe what ratchet produces. Stored items are normalised: every
// item has a type and an id, and message content is always a list of parts.

const inputText = z.strictObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z.strictObject({
  type: z.literal('input_image'),
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: z.enum(['low', 'high', 'auto']).default('auto'),
});
const inputFile = z.strictObject({
  type: z.literal('input_file'),
  file_id: z.string().nullish(),
  file_data: z.string().nullish(),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
});
const outputTextPart = z.strictObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()).default([]),
  logprobs: z.array(z.unknown()).optional(),
});
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

export const contentPartSchema = z.discriminatedUnion('type', [
  inputText,
  inputImage,
  inputFile,
  outputTextPart,
  refusalPart,
]);
export type ContentPart = z.infer<typeof contentPartSchema>;

export const messageRoleSchema = z.enum(['user', 'system', 'developer', 'assistant']);
export type MessageRole = z.infer<typeof messageRoleSchema>;

const itemStatus = z.enum(['in_progress', 'completed', 'incomplete']);

/** What an assistant message is: the model thinking aloud between tool calls, or its answer. */
export const messagePhaseSchema = z.enum(['commentary', 'final_answer']);
export type MessagePhase = z.infer<typeof messagePhaseSchema>;

const messageItem = z
  .strictObject({
    type: z.literal('message'),
    id: z.string().optional(),
    role: messageRoleSchema,
    content: z.union([z.string(), z.array(contentPartSchema)]),
    status: itemStatus.optional(),
    phase: messagePhaseSchema.nullish(),
  })
  .refine((message) => message.phase == null || message.role === 'assistant', {
    path: ['phase'],
    message: 'only assistant messages have a phase',
  });

const functionCallItem = z.strictObject({
  type: z.literal('function_call'),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  status: itemStatus.optional(),
});

const functionCallOutputItem = z.strictObject({
  type: z.literal('function_call_output'),
  id: z.string().optional(),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(contentPartSchema)]),
  status: itemStatus.optional(),
});

const reasoningItem = z.strictObject({
  type: z.literal('reasoning'),
  id: z.string().optional(),
  summary: z.array(z.strictObject({ type: z.literal('summary_text'), text: z.string() })),
  content: z
    .array(z.strictObject({ type: z.literal('reasoning_text'), text: z.string() }))
    .optional(),
  encrypted_content: z.string().nullish(),
  status: itemStatus.optional(),
});

/**
 * A call ratchet ran itself (an http tool, an agent, an MCP tool), as a full-history client
 * sends it back. `output` may be missing: some clients drop it to keep their history small.
 */
const mcpCallItem = z.strictObject({
  type: z.literal('mcp_call'),
  id: z.string().min(1).optional(),
  server_label: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  output: z.string().nullish(),
  error: z.string().nullish(),
  status: z.enum(['in_progress', 'completed', 'incomplete', 'calling', 'failed']).optional(),
  call_id: z.string().min(1).optional(),
  approval_request_id: z.string().nullish(),
});

/** A tool listing of an MCP server, as a client sends its history back (OpenAI's shape). */
const mcpListToolsItem = z.strictObject({
  type: z.literal('mcp_list_tools'),
  id: z.string().min(1).optional(),
  server_label: z.string().min(1),
  tools: z.array(
    z.strictObject({
      name: z.string().min(1),
      description: z.string().nullish(),
      input_schema: z.record(z.string(), z.unknown()),
      annotations: z.record(z.string(), z.unknown()).nullish(),
    }),
  ),
  error: z.string().nullish(),
});

/** A call ratchet asked a human to approve, as a client sends its history back. */
const mcpApprovalRequestItem = z.strictObject({
  type: z.literal('mcp_approval_request'),
  id: z.string().min(1),
  server_label: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  agent_path: z
    .array(z.strictObject({ name: z.string(), call_id: z.string().nullable() }))
    .nullish(),
});

/** The answer to an approval request (OpenAI's `mcp_approval_response`). */
const mcpApprovalResponseItem = z.strictObject({
  type: z.literal('mcp_approval_response'),
  id: z.string().min(1).nullish(),
  approval_request_id: z.string().min(1),
  approve: z.boolean(),
  reason: z.string().max(10_000).nullish(),
});

const itemReference = z.strictObject({ type: z.literal('item_reference'), id: z.string().min(1) });

/**
 * What POST /v1/responses/compact returned, sent back as it was: the summary of the earlier
 * conversation, sealed by this deployment (see `CompactionItem`).
 */
const compactionItem = z.strictObject({
  type: z.literal('compaction'),
  id: z.string().nullish(),
  encrypted_content: z.string().min(1).max(10_485_760),
  created_by: z.string().optional(),
});

/** An input item; a bare `{role, content}` is a message (EasyInputMessage). */
export const inputItemSchema = z.preprocess(
  (value) =>
    value !== null && typeof value === 'object' && !('type' in value) && 'role' in value
      ? { type: 'message', ...value }
      : value,
  z.discriminatedUnion('type', [
    messageItem,
    functionCallItem,
    functionCallOutputItem,
    reasoningItem,
    mcpCallItem,
    mcpListToolsItem,
    mcpApprovalRequestItem,
    mcpApprovalResponseItem,
    itemReference,
    compactionItem,
  ]),
);
export type InputItem = z.infer<typeof inputItemSchema>;

// ---- Normalised items: what is stored and what the model sees ----

export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}
export interface Refusal {
  type: 'refusal';
  refusal: string;
}

export interface MessageItem {
  type: 'message';
  id: string;
  role: MessageRole;
  status: 'in_progress' | 'completed' | 'incomplete';
  content: ContentPart[];
  /** Assistant messages only, and only when the client or the upstream labelled them. */
  phase?: MessagePhase;
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface FunctionCallOutputItem {
  type: 'function_call_output';
  id: string;
  call_id: string;
  output: string | ContentPart[];
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: { type: 'summary_text'; text: string }[];
  content?: { type: 'reasoning_text'; text: string }[];
  encrypted_content?: string | null;
  status?: 'in_progress' | 'completed' | 'incomplete';
}

export type McpCallStatus = 'in_progress' | 'completed' | 'incomplete' | 'calling' | 'failed';

/**
 * A call ratchet runs itself, shown as OpenAI shows the calls it hosts (`mcp_call`), so that
 * clients treat it as already executed instead of running it again. `server_label` says what
 * ran it: `http` and `agent` for the config's tools of those types, an MCP server's label
 * for its tools. `call_id` is the model's own id for the call (not in OpenAI's shape; extra
 * fields are allowed), so the call reaches the model again exactly as the model made it.
 */
export interface McpCallItem {
  type: 'mcp_call';
  id: string;
  call_id: string;
  server_label: string;
  name: string;
  arguments: string;
  output: string | null;
  error: string | null;
  status: McpCallStatus;
}

/** One tool of an MCP server's listing. */
export interface McpListedTool {
  name: string;
  description: string | null;
  input_schema: Record<string, unknown>;
  annotations: Record<string, unknown> | null;
}

/**
 * The tools an MCP server offered, listed once per server per conversation (OpenAI's
 * `mcp_list_tools`). A listing that failed carries `error` and no tools; the model then goes
 * on without that server's tools. Models never read these items: the tools they list reach
 * the model as function definitions (`mcpFunctionName`).
 */
export interface McpListToolsItem {
  type: 'mcp_list_tools';
  id: string;
  server_label: string;
  tools: McpListedTool[];
  error: string | null;
}

/** One agent call on the way from the top scope to a sub-agent: its tool name and call id. */
export interface AgentPathEntry {
  name: string;
  call_id: string | null;
}

/**
 * A call that waits for a human's approval (OpenAI's `mcp_approval_request`). `id` is what
 * an `mcp_approval_response` answers. `agent_path` (ratchet's, not OpenAI's) names the agent
 * calls that led to the sub-agent that made the call, outermost first; absent at the top.
 */
export interface McpApprovalRequestItem {
  type: 'mcp_approval_request';
  id: string;
  server_label: string;
  name: string;
  arguments: string;
  agent_path?: AgentPathEntry[];
}

/** A client's answer to an approval request (OpenAI's `mcp_approval_response`). */
export interface McpApprovalResponseItem {
  type: 'mcp_approval_response';
  id: string;
  approval_request_id: string;
  approve: boolean;
  reason: string | null;
}

/**
 * The earlier part of a conversation, summarised by POST /v1/responses/compact. Clients see
 * only the sealed `encrypted_content`; `summary` is ratchet's own: the text it seals, opened
 * when the request carrying the item is accepted, so that whichever process calls the model
 * later reads it without the key. `clientItem` drops it wherever items are shown to clients;
 * the model reads it as a developer message (`modelItems`).
 */
export interface CompactionItem {
  type: 'compaction';
  id: string;
  encrypted_content: string;
  created_by?: string;
  summary: string;
}

/** The items a model reads and writes: what upstream codecs encode and decode. */
export type ModelItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem;

/**
 * A conversation item after normalisation (item references are resolved before this): what
 * responses store, clients see, and a model reads once server calls are expanded
 * (`modelItems`).
 */
export type Item =
  | ModelItem
  | McpCallItem
  | McpListToolsItem
  | McpApprovalRequestItem
  | McpApprovalResponseItem
  | CompactionItem;

/** Text of a message's parts that carry text (input_text, output_text). */
export function messageText(item: MessageItem): string {
  return item.content
    .map((part) => (part.type === 'input_text' || part.type === 'output_text' ? part.text : ''))
    .join('');
}

export function assistantMessage(
  id: string,
  text: string,
  status: MessageItem['status'] = 'completed',
): MessageItem {
  return {
    type: 'message',
    id,
    role: 'assistant',
    status,
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}
