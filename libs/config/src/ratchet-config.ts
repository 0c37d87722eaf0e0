import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';

// The YAML config file (RATCHET_CONFIG): models, server-side tools and limits.
// Unknown keys are errors, so a typo never silently disables a setting.

const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must match ^[a-zA-Z0-9_-]{1,64}$');

/**
 * How long one upstream model call may take, in milliseconds, phase by phase. `timeoutMs`
 * bounds the whole call; the others fail a call stuck in one phase long before that.
 */
export const MODEL_TIMEOUT_DEFAULTS = Object.freeze({
  /** The whole call: connecting, waiting for the answer and reading all of it. */
  timeoutMs: 600_000,
  /** Opening the TCP connection and, for https, the TLS handshake. */
  connectTimeoutMs: 10_000,
  /**
   * A streamed call, from sending the request to the response headers. A streaming upstream
   * answers headers at once and streams the turn after them; only a queued, overloaded or
   * model-loading server keeps a client waiting here. (A non-streamed upstream sends its
   * headers only with the finished answer, so non-streamed calls wait up to `timeoutMs`.)
   */
  firstByteTimeoutMs: 120_000,
  /**
   * The longest silence between two pieces of a response body. Generous because reasoning
   * models may stream nothing while they think (minutes, at high effort, from upstreams
   * that send no keepalives); a false expiry would throw that thinking away and retry it.
   */
  idleTimeoutMs: 300_000,
});

const timeout = (defaultMs: number) => z.int().positive().default(defaultMs);

export const modelConfigSchema = z.strictObject({
  provider: z.enum(['openai-chat', 'openai-responses', 'anthropic', 'mock']),
  baseUrl: z.url().optional(),
  apiKey: z.string().optional(),
  upstreamModel: z.string().min(1).optional(),
  fallbacks: z.array(z.string().min(1)).default([]),
  /** Whole-request timeout for one upstream call, in milliseconds; the ceiling of the others. */
  timeoutMs: timeout(MODEL_TIMEOUT_DEFAULTS.timeoutMs),
  /** TCP (and TLS) connect timeout of an upstream call. */
  connectTimeoutMs: timeout(MODEL_TIMEOUT_DEFAULTS.connectTimeoutMs),
  /** Streamed calls: time from sending the request until the response headers arrive. */
  firstByteTimeoutMs: timeout(MODEL_TIMEOUT_DEFAULTS.firstByteTimeoutMs),
  /** Longest gap between two chunks of a response body, streamed or not. */
  idleTimeoutMs: timeout(MODEL_TIMEOUT_DEFAULTS.idleTimeoutMs),
  /** Extra HTTP headers sent upstream (e.g. an organisation header). */
  headers: z.record(z.string(), z.string()).default({}),
  /** openai-chat: the parameter that carries the output token limit. */
  maxTokensParameter: z
    .enum(['max_completion_tokens', 'max_tokens'])
    .default('max_completion_tokens'),
  /**
   * openai-chat, openai-responses: whether the upstream takes `verbosity` (default: OpenAI's
   * gpt-5 models, and Responses API servers' models other than OpenAI's).
   */
  acceptsVerbosity: z.boolean().optional(),
  /**
   * Tokens of input the model reads at most; `truncation: "auto"` drops the oldest items to
   * fit. Defaults for well-known model names (model-defaults.ts); unknown models: none.
   */
  contextWindow: z.int().positive().optional(),
  description: z.string().optional(),
});
export type ModelConfig = z.infer<typeof modelConfigSchema>;

const jsonSchemaObject = z.record(z.string(), z.unknown());

/** Whether an http or agent tool's calls wait for a human's approval (approvals.ts). */
const approvalSetting = z.enum(['always', 'never']).default('never');

/**
 * Which of an MCP server's tools wait for a human's approval: all, none, or by tool name as
 * OpenAI's `require_approval` filters them (a tool named in neither list is asked about).
 */
const mcpApprovalSetting = z
  .union([
    z.enum(['always', 'never']),
    z.strictObject({
      always: z.array(z.string().min(1)).optional(),
      never: z.array(z.string().min(1)).optional(),
    }),
  ])
  .default('never');

export const httpToolConfigSchema = z.strictObject({
  type: z.literal('http'),
  url: z.url(),
  description: z.string().optional(),
  parameters: jsonSchemaObject.default({ type: 'object', properties: {} }),
  timeoutMs: z.int().positive().default(30_000),
  headers: z.record(z.string(), z.string()).default({}),
  approval: approvalSetting,
});

export const agentToolConfigSchema = z.strictObject({
  type: z.literal('agent'),
  model: z.string().min(1),
  instructions: z.string().optional(),
  description: z.string().optional(),
  tools: z.array(z.string()).default([]),
  approval: approvalSetting,
});

/**
 * An MCP server whose tools a request (or an agent) offers by naming it. The model calls its
 * tools as `<name>__<tool>` (see `mcpFunctionName`); `headers` (credentials, often) are sent
 * with every request to the server and never logged or shown.
 */
export const mcpToolConfigSchema = z.strictObject({
  type: z.literal('mcp'),
  url: z.url(),
  description: z.string().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  /** Only these tools are listed and may be called; all of the server's when absent. */
  allowedTools: z.array(z.string().min(1)).optional(),
  /** How long one tool call may take, connecting included. */
  timeoutMs: z.int().positive().default(60_000),
  /** Forces a transport; by default Streamable HTTP is tried, then HTTP+SSE. */
  transport: z.enum(['streamable-http', 'sse']).optional(),
  approval: mcpApprovalSetting,
});

export const toolConfigSchema = z.discriminatedUnion('type', [
  httpToolConfigSchema,
  agentToolConfigSchema,
  mcpToolConfigSchema,
]);
export type ToolConfig = z.infer<typeof toolConfigSchema>;
export type HttpToolConfig = z.infer<typeof httpToolConfigSchema>;
export type AgentToolConfig = z.infer<typeof agentToolConfigSchema>;
export type McpToolConfig = z.infer<typeof mcpToolConfigSchema>;

/** Labels that server calls of http tools and agents show: no MCP server may take them. */
const RESERVED_MCP_LABELS: ReadonlySet<string> = new Set(['http', 'agent']);

export const limitsSchema = z.strictObject({
  /** Deepest agent nesting: the top scope is depth 0, an agent it calls runs at depth 1. */
  maxDepth: z.int().min(0).default(8),
  /** Model calls allowed in one scope. */
  maxIterations: z.int().min(1).default(10),
  /** Model, tool and agent steps allowed across a whole response tree. */
  maxSteps: z.int().min(1).default(200),
  /** Wall-clock budget of a whole response, in milliseconds. */
  maxDurationMs: z.int().positive().default(3_600_000),
  /** Steps of one scope running at once. */
  maxConcurrentStepsPerScope: z.int().min(1).default(16),
  /** Steps of one response tree running at once. */
  maxConcurrentStepsPerResponse: z.int().min(1).default(32),
  /**
   * Largest answer read from an http tool, in bytes (1 MiB). A larger one is not read further:
   * the model reads an error output saying so.
   */
  maxToolOutputBytes: z
    .int()
    .positive()
    .default(1024 * 1024),
  /**
   * Largest answer read from an upstream model, body or stream, in bytes (16 MiB). The call
   * is cut off there and fails with `upstream_response_too_large`, not retried.
   */
  maxUpstreamResponseBytes: z
    .int()
    .positive()
    .default(16 * 1024 * 1024),
  /**
   * Largest event log of one streamed response, in bytes (64 MiB). A model call that would
   * log more is stopped, and the response fails with `max_event_log_bytes`.
   */
  maxEventLogBytes: z
    .int()
    .positive()
    .default(64 * 1024 * 1024),
});
export type Limits = z.infer<typeof limitsSchema>;

/**
 * Which MCP servers requests may name (`tools: [{type: mcp, server_url}]`): rules as
 * `McpAllowList` (@ratchet/mcp) reads them, checked there when the app starts. Empty: none.
 */
export const mcpConfigSchema = z.strictObject({
  allow: z
    .array(
      z.union([
        z.string(),
        z.strictObject({
          url: z.string().optional(),
          host: z.string().optional(),
          addresses: z.array(z.string()),
        }),
      ]),
    )
    .default([]),
});

/** Human approvals of server calls. */
export const approvalsConfigSchema = z.strictObject({
  /**
   * How long an approval request waits for an answer, in milliseconds (24 hours). Unanswered
   * after that, it counts as denied: the call gets a refusal its model reads.
   */
  expiresAfterMs: z
    .int()
    .positive()
    .default(24 * 60 * 60 * 1000),
});

export const ratchetConfigSchema = z
  .strictObject({
    models: z.record(z.string().min(1), modelConfigSchema),
    tools: z.record(toolName, toolConfigSchema).default({}),
    mcp: mcpConfigSchema.default({ allow: [] }),
    approvals: approvalsConfigSchema.default({ expiresAfterMs: 24 * 60 * 60 * 1000 }),
    limits: limitsSchema.default(limitsSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    for (const [name, model] of Object.entries(config.models)) {
      if (model.provider !== 'mock' && !model.baseUrl) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', name, 'baseUrl'],
          message: `is required for provider '${model.provider}'`,
        });
      }
      model.fallbacks.forEach((fallback, i) => {
        if (!Object.hasOwn(config.models, fallback)) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', name, 'fallbacks', i],
            message: `names unknown model '${fallback}'`,
          });
        }
      });
    }
    for (const [name, tool] of Object.entries(config.tools)) {
      if (tool.type === 'mcp' && RESERVED_MCP_LABELS.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tools', name],
          message: `'${name}' is the label of ratchet's own server calls; give the MCP server another name`,
        });
      }
      if (tool.type !== 'agent') continue;
      if (!Object.hasOwn(config.models, tool.model)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tools', name, 'model'],
          message: `names unknown model '${tool.model}'`,
        });
      }
      tool.tools.forEach((child, i) => {
        if (!Object.hasOwn(config.tools, child)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tools', name, 'tools', i],
            message: `names unknown tool '${child}'`,
          });
        }
      });
    }
  });
export type RatchetConfig = z.infer<typeof ratchetConfigSchema>;

/** A config problem, with the file and the path inside it in the message. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** `models.gpt.fallbacks[0]` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    return out ? `${out}.${name}` : name;
  }, '');
}

/**
 * Replaces `${VAR}` with the variable's value, in string scalars only, so interpolated
 * values can never change the YAML structure. `$${VAR}` is a literal `${VAR}`.
 */
export function interpolate(
  value: unknown,
  env: Record<string, string | undefined>,
  onMissing: (name: string, path: PropertyKey[]) => void,
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name: string) => {
      if (match.startsWith('$$')) return match.slice(1);
      const found = env[name];
      if (found === undefined) {
        onMissing(name, path);
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolate(v, env, onMissing, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, env, onMissing, [...path, k])]),
    );
  }
  return value;
}

/** Parses and validates config text; `source` names the file in error messages. */
export function parseRatchetConfig(
  text: string,
  source: string,
  env: Record<string, string | undefined>,
): RatchetConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ConfigError(`${source}: invalid YAML: ${first.message}`);
  }
  const problems: string[] = [];
  const raw = interpolate(doc.toJS(), env, (name, path) => {
    problems.push(`${source}: ${formatPath(path)}: environment variable ${name} is not set`);
  });
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  const result = ratchetConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const where = formatPath(issue.path) || '(top level)';
      return `${source}: ${where}: ${describeIssue(issue)}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key') return issue.issues.map((inner) => inner.message).join('; ');
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  }
  return issue.message;
}

export function loadRatchetConfig(
  file: string,
  env: Record<string, string | undefined>,
): RatchetConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read config file: ${(error as Error).message}`);
  }
  return parseRatchetConfig(text, file, env);
}

/** The config used when RATCHET_CONFIG is not set: one scripted mock model. */
export const DEFAULT_CONFIG_YAML = `# ratchet's built-in default: a scripted mock model, and a sub-agent on it as a server-side
# tool, so every feature can be tried without an upstream.
models:
  mock:
    provider: mock
    description: Deterministic scripted model for demos and tests
tools:
  researcher:
    type: agent
    model: mock
    description: A sub-agent that researches a task and answers briefly
    instructions: You research the task you are given and answer briefly.
limits: { maxDepth: 8, maxIterations: 10 }
`;
