import type { RatchetConfig } from '@ratchet/config';
import {
  RatchetError,
  type CreateResponseRequest,
  type FunctionTool,
  type ScopeTools,
  type ServerToolKind,
} from '@ratchet/core';

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
  const seen = new Set<string>();
  (request.tools ?? []).forEach((tool, index) => {
    if (seen.has(tool.name)) {
      throw RatchetError.invalid(
        `Duplicate tool name '${tool.name}': every tool needs a unique name.`,
        `tools[${index}].name`,
        'duplicate_tool_name',
      );
    }
    seen.add(tool.name);
    if (isMcpServer(config, tool.name)) {
      mcp.push(tool.name);
      return;
    }
    const configured = configuredDefinition(config, tool.name);
    if (configured) server[tool.name] = config.tools[tool.name].type as ServerToolKind;
    definitions.push({
      type: 'function',
      name: tool.name,
      description: tool.description ?? configured?.description ?? null,
      parameters: tool.parameters ?? configured?.parameters ?? null,
      strict: tool.strict ?? null,
    });
  });
  checkToolChoice(request, seen);
  return mcp.length > 0 ? { definitions, server, mcp } : { definitions, server };
}

/** The tools of an agent from the config: all server-side, defined by the config. */
export function resolveAgentTools(config: RatchetConfig, names: readonly string[]): ScopeTools {
  const definitions: FunctionTool[] = [];
  const server: ScopeTools['server'] = {};
  const mcp: string[] = [];
  for (const name of names) {
    if (isMcpServer(config, name)) {
      mcp.push(name);
      continue;
    }
    const definition = configuredDefinition(config, name);
    if (!definition) continue; // the config schema already rejects unknown names
    definitions.push(definition);
    server[name] = config.tools[name].type as ServerToolKind;
  }
  return mcp.length > 0 ? { definitions, server, mcp } : { definitions, server };
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
