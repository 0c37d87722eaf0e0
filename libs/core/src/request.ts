import { z } from 'zod';
import { RatchetError } from './errors';
import { INCLUDABLE, refuseUnservedIncludes } from './include';
import { inputItemSchema } from './items';

// POST /v1/responses, validated. Errors name the offending field the way OpenAI does
// (`input[0].content`), so clients can point at the exact parameter.

export const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/;

const functionToolSchema = z.strictObject({
  type: z.literal('function'),
  name: z.string().regex(toolNamePattern, 'must match ^[a-zA-Z0-9_-]{1,64}$'),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
export type FunctionToolParam = z.infer<typeof functionToolSchema>;

const mcpToolFilterSchema = z.strictObject({
  tool_names: z.array(z.string().min(1)).nullish(),
  read_only: z.boolean().nullish(),
});

/**
 * An MCP server the request names (OpenAI's `mcp` tool). The server must pass the operator's
 * allow-list; `headers` and `authorization` are sealed, never stored in clear nor echoed.
 */
const mcpToolSchema = z.strictObject({
  type: z.literal('mcp'),
  server_label: z.string().regex(toolNamePattern, 'must match ^[a-zA-Z0-9_-]{1,64}$'),
  server_url: z.string().min(1).nullish(),
  connector_id: z.string().nullish(),
  authorization: z.string().nullish(),
  headers: z.record(z.string(), z.string()).nullish(),
  allowed_tools: z.union([z.array(z.string().min(1)), mcpToolFilterSchema]).nullish(),
  require_approval: z
    .union([
      z.enum(['always', 'never']),
      z.strictObject({
        always: mcpToolFilterSchema.nullish(),
        never: mcpToolFilterSchema.nullish(),
      }),
    ])
    .nullish(),
  server_description: z.string().nullish(),
});
export type McpToolParam = z.infer<typeof mcpToolSchema>;

const toolSchema = z.discriminatedUnion('type', [functionToolSchema, mcpToolSchema]);
export type ToolParam = z.infer<typeof toolSchema>;

export const toolChoiceSchema = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), name: z.string().min(1) }),
  z.strictObject({
    type: z.literal('allowed_tools'),
    mode: z.enum(['auto', 'required']),
    tools: z.array(z.strictObject({ type: z.literal('function'), name: z.string().min(1) })),
  }),
]);
export type ToolChoiceParam = z.infer<typeof toolChoiceSchema>;

export const textFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().regex(toolNamePattern, 'must match ^[a-zA-Z0-9_-]{1,64}$'),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullish(),
  }),
]);

export const metadataSchema = z
  .record(
    z.string().max(64, 'keys must be at most 64 characters'),
    z.string().max(512, 'values must be at most 512 characters'),
  )
  .refine((record) => Object.keys(record).length <= 16, 'must have at most 16 pairs');

/**
 * An input item. OpenAI lets an item reference leave out its type (`{"id": "msg_..."}`):
 * an object with an id and neither a type nor a role is one.
 */
export const inputItemParamSchema = z.preprocess(
  (value) =>
    value !== null &&
    typeof value === 'object' &&
    'id' in value &&
    !('role' in value) &&
    (!('type' in value) || value.type === null)
      ? { ...value, type: 'item_reference' }
      : value,
  inputItemSchema,
);

/** The conversation a response belongs to: its id, or `{"id": ...}`. */
const conversationParamSchema = z.union([
  z.string().min(1),
  z.strictObject({ id: z.string().min(1) }),
]);

export const createResponseSchema = z.strictObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(inputItemParamSchema)]).optional(),
  instructions: z.string().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  conversation: conversationParamSchema.nullish(),
  tools: z.array(toolSchema).optional(),
  tool_choice: toolChoiceSchema.optional(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.int().min(16).nullish(),
  max_tool_calls: z.int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  metadata: metadataSchema.nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .strictObject({
      include_obfuscation: z.boolean().optional(),
      // ratchet's own: stream sub-agents' events too, wrapped as `ratchet:agent.event`.
      agent_events: z.boolean().optional(),
    })
    .nullish(),
  text: z
    .strictObject({
      format: textFormatSchema.optional(),
      verbosity: z.enum(['low', 'medium', 'high']).nullish(),
    })
    .nullish(),
  reasoning: z
    .strictObject({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullish(),
      summary: z.enum(['auto', 'concise', 'detailed']).nullish(),
    })
    .nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  include: z.array(z.enum(INCLUDABLE)).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().max(64).nullish(),
  prompt_cache_key: z.string().nullish(),
  service_tier: z.enum(['auto', 'default', 'flex', 'priority']).nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
});
export type CreateResponseRequest = z.infer<typeof createResponseSchema>;

/** `input[0].content` from a zod path. */
export function paramOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

type Issue = z.core.$ZodIssue;

/**
 * Unions report one issue per branch. The branch that got furthest into the value says what
 * is really wrong; when every branch failed on the value's type, the union's types together
 * are what was expected.
 */
function decisiveIssue(
  issue: Issue,
  prefix: PropertyKey[] = [],
): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { issue, path };
  const branches = issue.errors
    .filter((branch) => branch.length > 0)
    .map((branch) => decisiveIssue(branch[0], path));
  const typeOnly = branches.every(
    (branch) => branch.issue.code === 'invalid_type' && branch.path.length === path.length,
  );
  if (typeOnly && branches.length > 0) {
    const expected = branches.map(
      (branch) => (branch.issue as z.core.$ZodIssueInvalidType).expected,
    );
    const first = branches[0].issue as z.core.$ZodIssueInvalidType;
    return { issue: { ...first, expected: expected.join(' or ') as never }, path };
  }
  return branches.reduce((best, branch) => (branch.path.length > best.path.length ? branch : best));
}

/** The first zod issue as an OpenAI-style invalid_request error. */
export function requestError(first: Issue): RatchetError {
  const { issue, path } = decisiveIssue(first);
  if (issue.code === 'unrecognized_keys') {
    const param = paramOf([...path, issue.keys[0]]);
    return RatchetError.invalid(`Unknown parameter: '${param}'.`, param, 'unknown_parameter');
  }
  const param = paramOf(path);
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return RatchetError.invalid(
      `Missing required parameter: '${param}'.`,
      param,
      'missing_required_parameter',
    );
  }
  if (issue.code === 'invalid_type') {
    return RatchetError.invalid(
      `Invalid type for '${param}': expected ${issue.expected}, but got ${describeType(issue.input)} instead.`,
      param,
      'invalid_type',
    );
  }
  if (issue.code === 'invalid_key' && issue.issues.length > 0) {
    return RatchetError.invalid(
      `Invalid value for '${param}': ${issue.issues[0].message}.`,
      param,
      'invalid_value',
    );
  }
  if (issue.code === 'invalid_union' && 'options' in issue && Array.isArray(issue.options)) {
    const options = (issue.options as unknown[]).map((option) => `'${String(option)}'`).join(', ');
    return RatchetError.invalid(
      `Invalid value for '${param}': expected one of ${options}.`,
      param,
      'invalid_value',
    );
  }
  return RatchetError.invalid(
    `Invalid value for '${param}': ${issue.message}.`,
    param,
    'invalid_value',
  );
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_BODY_DEPTH = 128;

/** Something in a body that no schema catches but that cannot be stored or serialised. */
export interface BodyProblem {
  /** Where: `input[0].content` (for a key, the object that has it; '' for the body). */
  param: string;
  problem: 'nul_character' | 'too_deep';
}

/**
 * The first string of a JSON value holding a NUL character, which Postgres cannot store as
 * text, or the first value nested deeper than MAX_BODY_DEPTH, which free-form fields would
 * otherwise carry to JSON.stringify and Postgres until a stack overflows. Iterative, so no
 * nesting can overflow the stack here.
 */
export function findBodyProblem(value: unknown): BodyProblem | null {
  // Each entry keeps its parent's entry, so a path is only built for the value found.
  interface Entry {
    value: unknown;
    key: PropertyKey | null;
    parent: Entry | null;
    depth: number;
  }
  const paramAt = (entry: Entry): string => {
    const path: PropertyKey[] = [];
    for (let at: Entry | null = entry; at !== null && at.key !== null; at = at.parent) {
      path.push(at.key);
    }
    return paramOf(path.reverse());
  };
  const pending: Entry[] = [{ value, key: null, parent: null, depth: 0 }];
  for (let entry = pending.pop(); entry !== undefined; entry = pending.pop()) {
    const current = entry.value;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return { param: paramAt(entry), problem: 'nul_character' };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (entry.depth >= MAX_BODY_DEPTH) return { param: paramAt(entry), problem: 'too_deep' };
    const depth = entry.depth + 1;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        pending.push({ value: current[i], key: i, parent: entry, depth });
      }
      continue;
    }
    for (const [key, item] of Object.entries(current).reverse()) {
      if (key.includes('\u0000')) return { param: paramAt(entry), problem: 'nul_character' };
      pending.push({ value: item, key, parent: entry, depth });
    }
  }
  return null;
}

/** Parses a JSON request body with `schema`; throws the first problem naming the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw RatchetError.invalid('The request body must be a JSON object.', null, 'invalid_body');
  }
  const found = findBodyProblem(body);
  if (found) {
    const param = found.param || null;
    const what =
      found.problem === 'nul_character'
        ? 'text may not contain NUL characters (\\u0000)'
        : `JSON may nest at most ${MAX_BODY_DEPTH} levels deep`;
    throw RatchetError.invalid(
      `Invalid value for '${param ?? 'body'}': ${what}.`,
      param,
      'invalid_value',
    );
  }
  const result = schema.safeParse(body, { reportInput: true });
  if (!result.success) throw requestError(result.error.issues[0]);
  return result.data;
}

/** Validates a request body; throws the first problem as a RatchetError naming the field. */
export function parseCreateResponse(body: unknown): CreateResponseRequest {
  const request = parseBody(createResponseSchema, body);
  if (request.conversation && request.previous_response_id) {
    throw RatchetError.invalid(
      "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
      'conversation',
      'mutually_exclusive_parameters',
    );
  }
  if (request.background && request.store === false) {
    throw RatchetError.invalid(
      'Background responses must be stored: background requires store to be true.',
      'background',
      'invalid_value',
    );
  }
  refuseUnservedIncludes(request.include);
  return request;
}

/** The id of the conversation a request names, if any. */
export function conversationIdOf(request: CreateResponseRequest): string | null {
  const conversation = request.conversation;
  if (!conversation) return null;
  return typeof conversation === 'string' ? conversation : conversation.id;
}
