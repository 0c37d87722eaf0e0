import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  mcpFunctionTable,
  McpNameCollision,
  scopeListings,
  type FunctionTool,
  type McpListToolsItem,
  type McpToolTarget,
  type StepError,
  type StepRecord,
} from '@ratchet/core';
import { McpClients, type McpServer } from '@ratchet/mcp';
import { Sealer, type ScopeSnapshot, type StepOutcome } from '@ratchet/store';
import { mcpAllowListOf, mcpHeadersPurpose } from '@ratchet/tools';

/** How long a call to a server a request named may take (config servers set their own). */
const REQUEST_SERVER_TIMEOUT_MS = 60_000;

/** What a model call offers of its scope's MCP servers. */
export interface McpOffer {
  /** Servers listed for this call, because the scope had no listing of them yet. */
  listings: McpListToolsItem[];
  /** The listed tools, as the functions the model calls them by. */
  definitions: FunctionTool[];
  /** Two tools would reach the model under one name: the call fails with this. */
  collision: McpNameCollision | null;
}

/**
 * The MCP servers of the config (`type: mcp` tools) as tool sources: each scope lists a server
 * once, at its first model call, unless its input carries a listing from an earlier turn,
 * and its calls run as tool steps through the process's McpClients pool.
 */
@Injectable()
export class McpTools {
  constructor(
    private readonly config: AppConfig,
    private readonly clients: McpClients,
    private readonly sealer: Sealer,
  ) {
    // A config whose MCP allow-list does not read stops startup, not a call.
    mcpAllowListOf(config.config);
  }

  /**
   * Lists the scope's servers that have no listing yet (a failed one in an earlier turn is
   * tried again; one that failed in this scope is not), and offers every listed tool.
   */
  async list(snapshot: ScopeSnapshot, step: StepRecord, signal: AbortSignal): Promise<McpOffer> {
    const labels = snapshot.scope.tools.mcp ?? [];
    if (labels.length === 0) return { listings: [], definitions: [], collision: null };
    const earlier = snapshot.steps.filter((other) => other.id !== step.id);
    const known = scopeListings(snapshot.scope.input, earlier);
    const listedHere = scopeListings([], earlier);
    const missing = labels.filter(
      (label) =>
        !known.some((listing) => listing.server_label === label && listing.error === null) &&
        !listedHere.some((listing) => listing.server_label === label),
    );
    const listings = await Promise.all(
      missing.map((label) => this.listServer(snapshot, label, step, signal)),
    );
    try {
      const table = mcpFunctionTable(
        labels,
        [...known, ...listings],
        snapshot.scope.tools.definitions.map((definition) => definition.name),
      );
      const definitions = Object.entries(table).map(([name, tool]): FunctionTool => ({
        type: 'function',
        name,
        description: tool.listing.description,
        parameters: tool.listing.input_schema,
        strict: null,
      }));
      return { listings, definitions, collision: null };
    } catch (error) {
      if (!(error instanceof McpNameCollision)) throw error;
      return { listings, definitions: [], collision: error };
    }
  }

  /**
   * Runs one MCP tool call. The step id is the call's idempotency hint (`_meta`) and progress
   * token, the same on every retry; aborting the signal cancels the request on the server.
   * A tool's error (`isError`), an MCP error or a timeout is the step's error, which the model
   * reads as the call's output.
   */
  async call(
    snapshot: ScopeSnapshot,
    target: McpToolTarget,
    step: StepRecord,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const found = await this.server(snapshot, target.label);
    if (!found.ok) return { status: 'failed', error: found.error };
    const outcome = await this.clients.callTool(found.server, {
      name: target.tool,
      arguments: step.arguments ?? '',
      idempotencyKey: step.id,
      signal,
      timeoutMs: found.timeoutMs,
    });
    if (signal.aborted) throw signal.reason;
    if (!outcome.ok) {
      return {
        status: 'failed',
        error: { code: outcome.failure.code, message: outcome.failure.message },
      };
    }
    const { text, parts } = outcome.result;
    const textOnly = parts.every((part) => part.type === 'input_text');
    return { status: 'completed', result: textOnly ? text : { text, parts } };
  }

  private async listServer(
    snapshot: ScopeSnapshot,
    label: string,
    step: StepRecord,
    signal: AbortSignal,
  ): Promise<McpListToolsItem> {
    const id = `mcpl_${step.id.replace(/^step_/, '').replace(/[^A-Za-z0-9]/g, '')}_${label}`;
    const item = (tools: McpListToolsItem['tools'], error: string | null): McpListToolsItem => ({
      type: 'mcp_list_tools',
      id,
      server_label: label,
      tools,
      error,
    });
    const found = await this.server(snapshot, label);
    if (!found.ok) return item([], `${found.error.code}: ${found.error.message}`);
    const outcome = await this.clients.listTools(found.server, { signal });
    if (!outcome.ok) return item([], `${outcome.failure.code}: ${outcome.failure.message}`);
    return item(
      outcome.tools.map((tool) => ({
        name: tool.name,
        description: tool.description ?? null,
        input_schema: tool.inputSchema,
        annotations: tool.annotations ? { ...tool.annotations } : null,
      })),
      null,
    );
  }

  /**
   * The scope's MCP server `label`, as the pool takes it: one the request named (its headers
   * unsealed, its connections held to the allow-list), else one of the config.
   */
  private async server(
    snapshot: ScopeSnapshot,
    label: string,
  ): Promise<{ ok: true; server: McpServer; timeoutMs: number } | { ok: false; error: StepError }> {
    const remote = snapshot.scope.tools.remote ?? {};
    if (Object.hasOwn(remote, label)) {
      const named = remote[label];
      let headers: Record<string, string> = {};
      if (named.sealedHeaders !== null) {
        const opened = await this.sealer.unseal(
          mcpHeadersPurpose(snapshot.scope.responseId, label),
          named.sealedHeaders,
        );
        if (!opened.ok) {
          return {
            ok: false,
            error: {
              code: 'mcp_headers_unreadable',
              message: `The headers for MCP server '${label}' could not be opened (${opened.reason}).`,
            },
          };
        }
        headers = JSON.parse(opened.plaintext) as Record<string, string>;
      }
      return {
        ok: true,
        server: {
          url: named.url,
          headers,
          allowedTools: named.allowedTools,
          allowList: mcpAllowListOf(this.config.config),
        },
        timeoutMs: REQUEST_SERVER_TIMEOUT_MS,
      };
    }
    const { tools } = this.config.config;
    const tool = Object.hasOwn(tools, label) ? tools[label] : undefined;
    if (tool?.type !== 'mcp') {
      return {
        ok: false,
        error: { code: 'tool_not_found', message: `No MCP server labelled '${label}' is known.` },
      };
    }
    return {
      ok: true,
      server: {
        url: tool.url,
        headers: tool.headers,
        transport: tool.transport ?? 'auto',
        allowedTools: tool.allowedTools ?? null,
      },
      timeoutMs: tool.timeoutMs,
    };
  }
}
