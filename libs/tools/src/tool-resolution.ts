import { ConfigError, type RatchetConfig } from '@ratchet/config';
import {
  RatchetError,
  type ApprovalPolicy,
  type CreateResponseRequest,
  type FunctionTool,
  type McpToolParam,
  type RemoteMcpServer,
  type ScopeTools,
  type ServerToolKind,
} from '@ratchet/core';
// The allow list alone, not @ratchet/mcp's index: that would bring the MCP SDK's client into
// the API's bundle, which never calls a server (scripts/on-demand-plugin.ts says why it costs).
import {
  checkMcpUrl,
  McpAllowList,
  McpAllowListError,
  type McpAllowRule,
} from '@ratchet/mcp/allow-list';

/** What an agent tool takes: the task for the sub-agent, as text. */
export const AGENT_TOOL_PARAMETERS = {
  type: 'object',
  properties: { input: { type: 'string', description: 'The task for the agent, in plain words.' } },
  required: ['input'],
  additionalProperties: false,
};

/** A configured tool as offered to a model, with the config's description and parameters. */
function configuredDefinition(config: RatchetConfig, name: string): FunctionTool | null {
  const tool = Object.hasOwn(config.tools, name) ? config.tools[name] : undefined;
  if (!tool || tool.type === 'mcp') return null;
  return {
    type: 'function',
    name,
    description: tool.description ?? null,
    parameters: tool.type === 'agent' ? AGENT_TOOL_PARAMETERS : tool.parameters,
    strict: null,
  };
}

/**
 * The tools a request offers the model. A name the config knows is a server-side tool whose
 * description and parameters default to the config's, or an MCP server whose tools are
 * listed when the response runs; any other name is a client-side function the client runs
 * itself.
 */
export function resolveRequestTools(
  config: RatchetConfig,
  request: CreateResponseRequest,
): ScopeTools {
  const definitions: FunctionTool[] = [];
  const server: ScopeTools['server'] = {};
  const mcp: string[] = [];
  const remote: Record<string, RemoteMcpServer> = {};
  const approval: Record<string, ApprovalPolicy> = {};
  const seen = new Set<string>();
  (request.tools ?? []).forEach((tool, index) => {
    const name = tool.type === 'mcp' ? tool.server_label : tool.name;
    const field = tool.type === 'mcp' ? 'server_label' : 'name';
    if (seen.has(name)) {
      throw RatchetError.invalid(
        `Duplicate tool name '${name}': every tool needs a unique name.`,
        `tools[${index}].${field}`,
        'duplicate_tool_name',
      );
    }
    seen.add(name);
    if (tool.type === 'mcp') {
      remote[name] = requestMcpServer(config, tool, index);
      const policy = requestApproval(tool.require_approval);
      if (policy !== 'never') approval[name] = policy;
      mcp.push(name);
      return;
    }
    if (isMcpServer(config, tool.name)) {
      mcp.push(tool.name);
      addConfigApproval(config, tool.name, approval);
      return;
    }
    const configured = configuredDefinition(config, tool.name);
    if (configured) {
      server[tool.name] = config.tools[tool.name].type as ServerToolKind;
      addConfigApproval(config, tool.name, approval);
    }
    definitions.push({
      type: 'function',
      name: tool.name,
      description: tool.description ?? configured?.description ?? null,
      parameters: tool.parameters ?? configured?.parameters ?? null,
      strict: tool.strict ?? null,
    });
  });
  checkToolChoice(request, seen);
  const approvals = Object.keys(approval).length > 0 ? { approval } : {};
  if (mcp.length === 0) return { definitions, server, ...approvals };
  return Object.keys(remote).length > 0
    ? { definitions, server, mcp, remote, ...approvals }
    : { definitions, server, mcp, ...approvals };
}

/**
 * A request MCP server's `require_approval` as a policy. Absent, it is OpenAI's default:
 * every call is asked about.
 */
function requestApproval(sent: McpToolParam['require_approval']): ApprovalPolicy {
  if (sent == null) return 'always';
  if (typeof sent === 'string') return sent;
  return { always: sent.always?.tool_names ?? null, never: sent.never?.tool_names ?? null };
}

/** A configured tool's `approval`, kept when its calls wait for one. */
function addConfigApproval(
  config: RatchetConfig,
  name: string,
  approval: Record<string, ApprovalPolicy>,
): void {
  const setting = config.tools[name].approval;
  if (setting === 'never') return;
  approval[name] =
    typeof setting === 'string'
      ? setting
      : { always: setting.always ?? null, never: setting.never ?? null };
}

/** Labels that ratchet's own server calls show, which no MCP server may take. */
const RESERVED_LABELS: ReadonlySet<string> = new Set(['http', 'agent']);

/**
 * An MCP server a request names, checked: its URL must pass the operator's allow-list
 * (`mcp.allow`), and what ratchet cannot do yet (approvals, connectors, read-only filters) is
 * refused by name. Its headers are left for the caller to seal (`requestMcpHeaders`).
 */
function requestMcpServer(
  config: RatchetConfig,
  tool: McpToolParam,
  index: number,
): RemoteMcpServer {
  const at = (field: string): string => `tools[${index}].${field}`;
  const label = tool.server_label;
  if (RESERVED_LABELS.has(label) || Object.hasOwn(config.tools, label)) {
    throw RatchetError.invalid(
      `The server_label '${label}' is taken: ${RESERVED_LABELS.has(label) ? "it labels ratchet's own server calls" : 'a configured tool has that name'}; choose another.`,
      at('server_label'),
      'invalid_value',
    );
  }
  if (tool.connector_id != null) {
    throw RatchetError.invalid(
      'Connectors are not supported: name the MCP server by its server_url.',
      at('connector_id'),
      'unsupported_parameter',
    );
  }
  const filter = tool.require_approval;
  if (filter != null && typeof filter === 'object') {
    for (const side of ['always', 'never'] as const) {
      if (filter[side]?.read_only != null) {
        throw RatchetError.invalid(
          'Filtering MCP tools by read_only is not supported: list their tool_names.',
          at(`require_approval.${side}.read_only`),
          'unsupported_parameter',
        );
      }
    }
  }
  if (tool.server_url == null) {
    throw RatchetError.invalid(
      `Missing required parameter: '${at('server_url')}'.`,
      at('server_url'),
      'missing_required_parameter',
    );
  }
  const check = checkMcpUrl(tool.server_url, mcpAllowListOf(config));
  if (!check.ok) {
    throw RatchetError.invalid(
      `The MCP server URL is not allowed: ${check.reason}.`,
      at('server_url'),
      'mcp_server_not_allowed',
    );
  }
  let allowedTools: string[] | null = null;
  const allowed = tool.allowed_tools;
  if (Array.isArray(allowed)) allowedTools = allowed;
  else if (allowed) {
    if (allowed.read_only != null) {
      throw RatchetError.invalid(
        'Filtering MCP tools by read_only is not supported: list their tool_names.',
        at('allowed_tools.read_only'),
        'unsupported_parameter',
      );
    }
    allowedTools = allowed.tool_names ?? null;
  }
  return {
    url: check.url.href,
    allowedTools,
    description: tool.server_description ?? null,
    sealedHeaders: null,
  };
}

/**
 * The headers each MCP server of the request is sent, by label: its `headers`, and its
 * `authorization` as `Authorization: Bearer <token>`. Servers without any are left out.
 */
export function requestMcpHeaders(
  request: CreateResponseRequest,
): Record<string, Record<string, string>> {
  const headers: Record<string, Record<string, string>> = {};
  for (const tool of request.tools ?? []) {
    if (tool.type !== 'mcp') continue;
    const sent: Record<string, string> = { ...(tool.headers ?? {}) };
    if (tool.authorization) sent.Authorization = `Bearer ${tool.authorization}`;
    if (Object.keys(sent).length > 0) headers[tool.server_label] = sent;
  }
  return headers;
}

/** The request as stored and echoed: its MCP servers without headers or authorization. */
export function withoutMcpSecrets(request: CreateResponseRequest): CreateResponseRequest {
  if (!request.tools?.some((tool) => tool.type === 'mcp')) return request;
  return {
    ...request,
    tools: request.tools.map((tool) => {
      if (tool.type !== 'mcp') return tool;
      const { headers: _headers, authorization: _authorization, ...rest } = tool;
      return rest;
    }),
  };
}

/** What MCP headers are sealed for: the response and the server, so they open nowhere else. */
export function mcpHeadersPurpose(responseId: string, label: string): string {
  return `mcp-headers:${responseId}:${label}`;
}

const allowLists = new WeakMap<RatchetConfig, McpAllowList>();

/**
 * The config's `mcp.allow` as an McpAllowList, parsed once per config. A rule it cannot read
 * throws a ConfigError naming it (the apps call this at startup).
 */
export function mcpAllowListOf(config: RatchetConfig): McpAllowList {
  let list = allowLists.get(config);
  if (!list) {
    try {
      list = McpAllowList.parse(config.mcp.allow as McpAllowRule[]);
    } catch (error) {
      if (!(error instanceof McpAllowListError)) throw error;
      throw new ConfigError(`mcp.allow[${error.rule}]: ${error.message}`);
    }
    allowLists.set(config, list);
  }
  return list;
}

/** The tools of an agent from the config: all server-side, defined by the config. */
export function resolveAgentTools(config: RatchetConfig, names: readonly string[]): ScopeTools {
  const definitions: FunctionTool[] = [];
  const server: ScopeTools['server'] = {};
  const mcp: string[] = [];
  const approval: Record<string, ApprovalPolicy> = {};
  for (const name of names) {
    if (isMcpServer(config, name)) {
      mcp.push(name);
      addConfigApproval(config, name, approval);
      continue;
    }
    const definition = configuredDefinition(config, name);
    if (!definition) continue; // the config schema already rejects unknown names
    definitions.push(definition);
    server[name] = config.tools[name].type as ServerToolKind;
    addConfigApproval(config, name, approval);
  }
  const approvals = Object.keys(approval).length > 0 ? { approval } : {};
  return mcp.length > 0
    ? { definitions, server, mcp, ...approvals }
    : { definitions, server, ...approvals };
}

function isMcpServer(config: RatchetConfig, name: string): boolean {
  return Object.hasOwn(config.tools, name) && config.tools[name].type === 'mcp';
}

function checkToolChoice(request: CreateResponseRequest, names: ReadonlySet<string>): void {
  const choice = request.tool_choice;
  if (choice === undefined || typeof choice === 'string') {
    if (choice === 'required' && names.size === 0) {
      throw RatchetError.invalid(
        "tool_choice 'required' needs at least one tool in 'tools'.",
        'tool_choice',
        'invalid_value',
      );
    }
    return;
  }
  const wanted = choice.type === 'function' ? [choice.name] : choice.tools.map((tool) => tool.name);
  for (const name of wanted) {
    if (!names.has(name)) {
      throw RatchetError.invalid(
        `Tool choice '${name}' is not one of the tools in 'tools'.`,
        'tool_choice',
        'invalid_value',
      );
    }
  }
}
