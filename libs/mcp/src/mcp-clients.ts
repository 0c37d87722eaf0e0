import type { CallToolResult, Tool, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { MAX_TIMER_MS, startDeadline, type Deadline } from '@ratchet/providers';
import type { ContentPart } from '@ratchet/core';
import { createHash } from 'node:crypto';
import { Agent } from 'undici';
import { ABORTED, untilAborted } from './abort-race';
import {
  checkMcpUrl,
  displayUrl,
  type McpAllowList,
  type McpResolver,
  systemResolver,
} from './mcp-allow-list';
import {
  type ConnectionSettings,
  type ConnectionTarget,
  type ConnectOutcome,
  McpConnection,
  type McpLogger,
  type McpTransportKind,
  type McpTransportSetting,
  openConnection,
} from './mcp-connection';
import { renderToolContent } from './mcp-content';
import { classifyMcpError, httpStatus, type McpCallFailure, mcpFailure } from './mcp-failures';
import { RequestScope, requestScopes } from './mcp-fetch';

// The pool of MCP sessions a process keeps: one connected SDK Client per server (URL,
// headers, transport and allow-list), opened on first use, replaced when it fails, closed
// when idle or at shutdown. It lists tools (all pages, cached, single-flight, refreshed on
// `notifications/tools/list_changed`) and calls them, and it turns every failure into an
// McpCallFailure: callers never get an exception from here.

/** An MCP server as a caller names it, for each call. */
export interface McpServer {
  /** The MCP endpoint (for servers that only speak HTTP+SSE, their SSE endpoint). */
  url: string;
  /**
   * Sent with every HTTP request to the server (e.g. `Authorization`). Kept in memory only,
   * for as long as the pool keeps the server's connection, so it can reconnect.
   */
  headers?: Readonly<Record<string, string>>;
  /** `auto` (the default) tries Streamable HTTP, then HTTP+SSE; the others force one. */
  transport?: McpTransportSetting;
  /** Only these tools are listed and may be called; all of them when absent. */
  allowedTools?: readonly string[] | null;
  /**
   * For servers a request named (not the operator): the URL, every redirect and every
   * address a connection uses must pass this list (see `checkMcpUrl`).
   */
  allowList?: McpAllowList;
}

/** A tool a server offers, as `tools/list` describes it. */
export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  /** A JSON Schema object for the arguments. */
  inputSchema: Record<string, unknown>;
  /** A JSON Schema object for `structuredContent`, when the tool declares one. */
  outputSchema?: Record<string, unknown>;
  /** Hints (read-only, destructive, idempotent, open-world); untrusted unless the server is. */
  annotations?: ToolAnnotations;
}

export type McpListToolsOutcome =
  { ok: true; tools: McpTool[] } | { ok: false; failure: McpCallFailure };

export interface McpListToolsOptions {
  /** Stops waiting (the shared listing goes on for others): `mcp_cancelled`. */
  signal?: AbortSignal;
  /** How long this caller waits, connecting included; `listTimeoutMs` by default. */
  timeoutMs?: number;
  /** Ignores the cached list and lists again. */
  refresh?: boolean;
}

/** One tool call. */
export interface McpToolCall {
  name: string;
  /** A JSON object, or the model's JSON text of one; nothing (or blank text) means `{}`. */
  arguments?: Record<string, unknown> | string | null;
  /**
   * Stable across retries of the same call (the engine's step id). Sent in the request's
   * `_meta` as `ratchet/idempotency-key`, and as its `progressToken` (see README notes).
   */
  idempotencyKey?: string;
  /** Aborting cancels the request (`notifications/cancelled`) and yields `mcp_cancelled`. */
  signal?: AbortSignal;
  /** How long the call may take, connecting included; `callTimeoutMs` by default. */
  timeoutMs?: number;
}

/** A tool's answer: the MCP content as it came, and rendered for the model and for clients. */
export interface McpToolResult {
  /** The content blocks as the server sent them. */
  content: CallToolResult['content'];
  structuredContent?: Record<string, unknown>;
  isError: boolean;
  /** What the model reads (see mcp-content.ts for how each kind of content maps). */
  parts: ContentPart[];
  /** One plain text for clients (the `mcp_call` output); binary content is described. */
  text: string;
  /** The result's own `_meta`, when the server sent one. */
  meta?: Record<string, unknown>;
}

/**
 * A call's outcome. A tool that reported an error (`isError`) is a failure with code
 * `mcp_tool_error` that still carries its result, whose content explains the error.
 */
export type McpCallOutcome =
  | { ok: true; result: McpToolResult }
  | { ok: false; failure: McpCallFailure; result?: McpToolResult };

export interface McpClientsOptions {
  /** How ratchet introduces itself in `initialize`. */
  clientInfo?: { name: string; version: string };
  /** Connecting (and the fallback to HTTP+SSE) must finish within this. Default 10 s. */
  connectTimeoutMs?: number;
  /** Default for `McpToolCall.timeoutMs`. Default 60 s. */
  callTimeoutMs?: number;
  /** Default wait for `listTools`, and the limit on one shared listing. Default 30 s. */
  listTimeoutMs?: number;
  /** How long a tool list is reused before it is listed again. Default 5 min. */
  toolsTtlMs?: number;
  /**
   * Largest answer accepted, in bytes: a tool result, or one page of tools. Larger ones are
   * discarded (`mcp_result_too_large`). Default 8 MiB, room for a few images.
   */
  maxResultBytes?: number;
  /** A server unused this long has its connection closed and its state dropped. Default 5 min. */
  idleTimeoutMs?: number;
  /** DNS for guarded servers (tests give a fixed table); the system resolver by default. */
  resolve?: McpResolver;
  logger?: McpLogger;
}

export const MCP_IDEMPOTENCY_META_KEY = 'ratchet/idempotency-key';

const DEFAULTS = {
  clientInfo: { name: 'ratchet', version: '0.1.0' },
  connectTimeoutMs: 10_000,
  callTimeoutMs: 60_000,
  listTimeoutMs: 30_000,
  toolsTtlMs: 5 * 60_000,
  maxResultBytes: 8 * 1024 * 1024,
  idleTimeoutMs: 5 * 60_000,
} as const;

/** A server that keeps handing out cursors is broken; stop listing after this many pages. */
const MAX_TOOL_PAGES = 100;

/** Everything the pool keeps for one server. */
class ServerState {
  connection: McpConnection | null = null;
  connecting: Promise<ConnectOutcome> | null = null;
  /** The transport that worked last, tried first when reconnecting. */
  preferred: McpTransportKind | undefined;
  /** Whether a connection was ever open: a new one may have missed list_changed notices. */
  connectedBefore = false;
  tools: { list: McpTool[]; expiresAt: number } | null = null;
  listing: Promise<McpListToolsOutcome> | null = null;
  /** Bumped whenever the tool list is known to be stale; a listing started before is not kept. */
  generation = 0;
  lastUsed = Date.now();
  /** Callers inside a listTools or callTool right now; an idle sweep leaves them alone. */
  users = 0;

  constructor(
    readonly key: string,
    readonly target: ConnectionTarget,
  ) {}

  invalidateTools(): void {
    this.generation += 1;
    this.tools = null;
    this.listing = null;
  }
}

type Attempt<T> = { outcome: T; retryOnNewSession?: boolean };

export class McpClients {
  private readonly settings: ConnectionSettings;
  private readonly callTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly toolsTtlMs: number;
  private readonly maxResultBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly trustedDispatcher = new Agent();
  private readonly servers = new Map<string, ServerState>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: McpClientsOptions = {}) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULTS.callTimeoutMs;
    this.listTimeoutMs = options.listTimeoutMs ?? DEFAULTS.listTimeoutMs;
    this.toolsTtlMs = options.toolsTtlMs ?? DEFAULTS.toolsTtlMs;
    this.maxResultBytes = options.maxResultBytes ?? DEFAULTS.maxResultBytes;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.settings = {
      clientInfo: options.clientInfo ?? DEFAULTS.clientInfo,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      trustedDispatcher: this.trustedDispatcher,
      resolve: options.resolve ?? systemResolver,
      logger: options.logger,
    };
  }

  /**
   * The server's tools (every page), filtered by `allowedTools`. A list younger than
   * `toolsTtlMs` is reused unless the server said it changed; callers asking at the same time
   * share one listing.
   */
  async listTools(
    server: McpServer,
    options: McpListToolsOptions = {},
  ): Promise<McpListToolsOutcome> {
    const found = this.stateFor(server);
    if (!found.ok) return found;
    const state = found.state;
    const timeoutMs = options.timeoutMs ?? this.listTimeoutMs;
    if (options.signal?.aborted) return { ok: false, failure: cancelled(state, 'listing tools') };
    if (options.refresh) state.invalidateTools();
    const deadline = startDeadline(timeoutMs, options.signal);
    state.users += 1;
    try {
      const outcome = await untilAborted(this.sharedListing(state), deadline.signal);
      if (outcome === ABORTED) {
        return { ok: false, failure: stopped(state, deadline, 'listing tools', timeoutMs) };
      }
      if (!outcome.ok) return outcome;
      return { ok: true, tools: filterAllowed(outcome.tools, server.allowedTools) };
    } finally {
      deadline.dispose();
      this.release(state);
    }
  }

  /** Forgets the server's cached tool list; the next listTools lists again. */
  invalidateTools(server: McpServer): void {
    const target = connectionTarget(server);
    if (target.ok) this.servers.get(serverKey(server, target.target))?.invalidateTools();
  }

  /**
   * Calls a tool. Resolves with the result, or with a failure for every way it can go wrong,
   * the caller's own abort (`mcp_cancelled`) included. A request that a restarted server
   * refused for its unknown session is sent once more on a new session: it never ran.
   */
  async callTool(server: McpServer, call: McpToolCall): Promise<McpCallOutcome> {
    const found = this.stateFor(server);
    if (!found.ok) return found;
    const state = found.state;
    const action = `calling the tool "${call.name}"`;
    if (!isAllowed(call.name, server.allowedTools)) {
      return fail(
        mcpFailure(
          'mcp_tool_not_allowed',
          `The tool "${call.name}" is not among the tools allowed on the MCP server at ${state.target.display}.`,
        ),
      );
    }
    const args = parseArguments(call);
    if (!args.ok) return fail(args.failure);
    if (call.signal?.aborted) return fail(cancelled(state, action));

    const timeoutMs = call.timeoutMs ?? this.callTimeoutMs;
    const deadline = startDeadline(timeoutMs, call.signal);
    state.users += 1;
    try {
      const first = await this.callOnce(state, call, args.value, deadline, timeoutMs);
      if (!first.retryOnNewSession) return first.outcome;
      return (await this.callOnce(state, call, args.value, deadline, timeoutMs)).outcome;
    } finally {
      deadline.dispose();
      this.release(state);
    }
  }

  /** Closes every connection (each within about a second) and refuses further use. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const states = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(states.map((state) => state.connection?.close() ?? Promise.resolve()));
    await this.trustedDispatcher.destroy().catch(() => undefined);
  }

  // ---- Calls ----

  private async callOnce(
    state: ServerState,
    call: McpToolCall,
    args: Record<string, unknown>,
    deadline: Deadline,
    timeoutMs: number,
  ): Promise<Attempt<McpCallOutcome>> {
    const action = `calling the tool "${call.name}"`;
    const acquired = await this.connection(state, deadline, action, timeoutMs);
    if (!acquired.ok) return { outcome: fail(acquired.failure) };
    const connection = acquired.connection;

    const meta: Record<string, unknown> = {};
    let progressToken: string | null = null;
    if (call.idempotencyKey) {
      meta[MCP_IDEMPOTENCY_META_KEY] = call.idempotencyKey;
      // The SDK numbers requests per session, so the request id cannot stay the same across
      // retries; the progress token is the one identity MCP lets the client choose.
      if (connection.claimProgressToken(call.idempotencyKey)) {
        progressToken = call.idempotencyKey;
        meta.progressToken = progressToken;
      }
    }
    const scope = new RequestScope(
      this.maxResultBytes,
      { server: state.target.display, action },
      deadline.signal,
    );
    try {
      const result = await connection.run(() =>
        requestScopes.run(scope, () =>
          connection.client.callTool({ name: call.name, arguments: args, _meta: meta }, undefined, {
            signal: scope.signal,
            timeout: backstopTimeout(timeoutMs),
          }),
        ),
      );
      scope.finish();
      return { outcome: this.toolOutcome(state, call.name, result as CallToolResult) };
    } catch (error) {
      scope.finish();
      const failure =
        scope.failure ??
        (deadline.signal.aborted
          ? stopped(state, deadline, action, timeoutMs)
          : classifyMcpError(error, { server: state.target.display, action, sent: true }));
      const retryOnNewSession = this.afterFailure(state, connection, error, failure);
      return { outcome: fail(failure), retryOnNewSession };
    } finally {
      if (progressToken) connection.releaseProgressToken(progressToken);
    }
  }

  private toolOutcome(state: ServerState, name: string, result: CallToolResult): McpCallOutcome {
    const size = Buffer.byteLength(JSON.stringify(result));
    if (size > this.maxResultBytes) {
      return fail(
        mcpFailure(
          'mcp_result_too_large',
          `The tool "${name}" on the MCP server at ${state.target.display} answered with ${size} bytes, more than the limit of ${this.maxResultBytes}, so its answer was discarded.`,
        ),
      );
    }
    const rendered = renderToolContent(result);
    const toolResult: McpToolResult = {
      content: result.content,
      isError: result.isError === true,
      parts: rendered.parts,
      text: rendered.text,
    };
    if (result.structuredContent !== undefined)
      toolResult.structuredContent = result.structuredContent;
    if (result._meta !== undefined) toolResult.meta = result._meta;
    if (!toolResult.isError) return { ok: true, result: toolResult };
    const said = rendered.text.trim() || 'no message';
    return {
      ok: false,
      failure: mcpFailure('mcp_tool_error', `The tool "${name}" reported an error: ${said}`),
      result: toolResult,
    };
  }

  // ---- Tool lists ----

  private sharedListing(state: ServerState): Promise<McpListToolsOutcome> {
    if (state.tools && state.tools.expiresAt > Date.now()) {
      return Promise.resolve({ ok: true, tools: state.tools.list });
    }
    if (state.listing) return state.listing;
    const generation = state.generation;
    const listing = this.listAllPages(state).then((outcome) => {
      // A list_changed that arrived meanwhile makes this list stale: answer with it, keep it not.
      if (outcome.ok && state.generation === generation) {
        state.tools = { list: outcome.tools, expiresAt: Date.now() + this.toolsTtlMs };
      }
      if (state.listing === listing) state.listing = null;
      return outcome;
    });
    state.listing = listing;
    return listing;
  }

  /** One listing for everybody waiting, bounded by listTimeoutMs, not by any one caller. */
  private async listAllPages(state: ServerState): Promise<McpListToolsOutcome> {
    const deadline = startDeadline(this.listTimeoutMs);
    state.users += 1;
    try {
      const first = await this.listOnce(state, deadline);
      if (!first.retryOnNewSession) return first.outcome;
      return (await this.listOnce(state, deadline)).outcome;
    } finally {
      deadline.dispose();
      this.release(state);
    }
  }

  private async listOnce(
    state: ServerState,
    deadline: Deadline,
  ): Promise<Attempt<McpListToolsOutcome>> {
    const action = 'listing tools';
    const acquired = await this.connection(state, deadline, action, this.listTimeoutMs);
    if (!acquired.ok) return { outcome: { ok: false, failure: acquired.failure } };
    const connection = acquired.connection;
    const tools = new Map<string, McpTool>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page += 1) {
      const scope = new RequestScope(
        this.maxResultBytes,
        { server: state.target.display, action },
        deadline.signal,
      );
      let result: { tools: Tool[]; nextCursor?: string };
      try {
        result = await connection.run(() =>
          requestScopes.run(scope, () =>
            connection.client.listTools(cursor === undefined ? undefined : { cursor }, {
              signal: scope.signal,
              timeout: backstopTimeout(this.listTimeoutMs),
            }),
          ),
        );
        scope.finish();
      } catch (error) {
        scope.finish();
        const failure =
          scope.failure ??
          (deadline.signal.aborted
            ? stopped(state, deadline, action, this.listTimeoutMs)
            : classifyMcpError(error, { server: state.target.display, action, sent: true }));
        const retryOnNewSession = this.afterFailure(state, connection, error, failure);
        return { outcome: fail(failure), retryOnNewSession };
      }
      // A name listed twice keeps its first description: a model is offered each name once.
      for (const tool of result.tools) {
        if (!tools.has(tool.name)) tools.set(tool.name, toMcpTool(tool));
      }
      cursor = result.nextCursor;
      if (cursor === undefined) return { outcome: { ok: true, tools: [...tools.values()] } };
    }
    return {
      outcome: fail(
        mcpFailure(
          'mcp_protocol_error',
          `The MCP server at ${state.target.display} kept paging its tool list past ${MAX_TOOL_PAGES} pages.`,
        ),
      ),
    };
  }

  // ---- Connections ----

  /** The server's live connection, connecting first (once, for all callers) when needed. */
  private async connection(
    state: ServerState,
    deadline: Deadline,
    action: string,
    timeoutMs: number,
  ): Promise<ConnectOutcome> {
    if (state.connection && !state.connection.closed)
      return { ok: true, connection: state.connection };
    state.connecting ??= this.connect(state);
    const outcome = await untilAborted(state.connecting, deadline.signal);
    if (outcome === ABORTED)
      return { ok: false, failure: stopped(state, deadline, action, timeoutMs) };
    return outcome;
  }

  private async connect(state: ServerState): Promise<ConnectOutcome> {
    try {
      const outcome = await openConnection(
        state.target,
        this.settings,
        {
          toolsChanged: () => state.invalidateTools(),
          lost: (connection) => this.retire(state, connection),
        },
        state.preferred,
      );
      if (!outcome.ok) return outcome;
      if (this.closed || this.servers.get(state.key) !== state) {
        // The pool closed, or dropped the server, while this was connecting.
        void outcome.connection.close();
        return { ok: false, failure: shuttingDown(state) };
      }
      // Notices sent while no connection listened are lost: the cached list may be stale.
      if (state.connectedBefore) state.invalidateTools();
      state.connectedBefore = true;
      state.preferred = outcome.connection.kind;
      state.connection = outcome.connection;
      return outcome;
    } finally {
      state.connecting = null;
    }
  }

  private retire(state: ServerState, connection: McpConnection): void {
    if (state.connection === connection) state.connection = null;
    connection.retire();
  }

  /**
   * What a failed request means for its connection, and whether to send the request again:
   * a connection whose session the server no longer knows (404 to Streamable HTTP requests
   * or to the old transport's message endpoint, e.g. after a restart) or
   * that closed before the request left is replaced, and the request, which never ran, may
   * be sent once more on a new one; a broken connection is replaced; other failures leave
   * the connection in use.
   */
  private afterFailure(
    state: ServerState,
    connection: McpConnection,
    error: unknown,
    failure: McpCallFailure,
  ): boolean {
    // The endpoint answered when the connection opened, so a 404 now means the session is gone.
    const sessionGone = httpStatus(error) === 404;
    const neverSent = error instanceof Error && error.message === 'Not connected';
    if (sessionGone || neverSent) {
      this.retire(state, connection);
      return true;
    }
    if (failure.code === 'mcp_connection_lost' || failure.code === 'mcp_unreachable') {
      this.retire(state, connection);
    }
    return false;
  }

  // ---- Server states ----

  private stateFor(
    server: McpServer,
  ): { ok: true; state: ServerState } | { ok: false; failure: McpCallFailure } {
    if (this.closed) {
      return {
        ok: false,
        failure: mcpFailure('mcp_unreachable', 'The MCP client pool is shutting down.'),
      };
    }
    const target = connectionTarget(server);
    if (!target.ok) return target;
    const key = serverKey(server, target.target);
    let state = this.servers.get(key);
    if (!state) {
      state = new ServerState(key, target.target);
      this.servers.set(key, state);
      this.startSweeper();
    }
    state.lastUsed = Date.now();
    return { ok: true, state };
  }

  private release(state: ServerState): void {
    state.users -= 1;
    state.lastUsed = Date.now();
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(
      () => this.sweepIdle(),
      Math.max(1_000, Math.floor(this.idleTimeoutMs / 2)),
    );
    // Idle connections must not keep a process alive that has nothing else to do.
    this.sweeper.unref();
  }

  /** Closes servers nobody used for idleTimeoutMs, and forgets them (headers included). */
  private sweepIdle(): void {
    const cutoff = Date.now() - this.idleTimeoutMs;
    for (const [key, state] of this.servers) {
      if (state.users > 0 || state.lastUsed > cutoff || state.connecting) continue;
      this.servers.delete(key);
      void state.connection?.close();
    }
    if (this.servers.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}

// ---- Helpers ----

function fail(failure: McpCallFailure): { ok: false; failure: McpCallFailure } {
  return { ok: false, failure };
}

/** The SDK's own timeout, set past ours so that ours (which knows the reason) fires first. */
function backstopTimeout(timeoutMs: number): number {
  return Math.min(timeoutMs + 1_000, MAX_TIMER_MS);
}

function cancelled(state: ServerState, action: string): McpCallFailure {
  return mcpFailure(
    'mcp_cancelled',
    `Stopped ${action} on the MCP server at ${state.target.display}: cancelled.`,
  );
}

function shuttingDown(state: ServerState): McpCallFailure {
  return mcpFailure(
    'mcp_unreachable',
    `The connection to the MCP server at ${state.target.display} was closed: the MCP client pool is shutting down.`,
  );
}

/** Why a deadline stopped a request: its time ran out, or its caller cancelled it. */
function stopped(
  state: ServerState,
  deadline: Deadline,
  action: string,
  timeoutMs: number,
): McpCallFailure {
  if (!deadline.timedOut()) return cancelled(state, action);
  return mcpFailure(
    'mcp_timeout',
    `The MCP server at ${state.target.display} did not finish ${action} within ${timeoutMs} ms.`,
  );
}

/**
 * Headers the transports manage themselves: a caller's value would break its session, or
 * (`mcp-session-id`) step into someone else's.
 */
const TRANSPORT_HEADERS: ReadonlySet<string> = new Set([
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  'accept',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'host',
]);

/** An HTTP token (RFC 9110), the only thing a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkHeaders(headers: Readonly<Record<string, string>>): McpCallFailure | null {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      return mcpFailure('mcp_invalid_headers', `"${name}" is not a valid HTTP header name.`);
    }
    if (TRANSPORT_HEADERS.has(name.toLowerCase())) {
      return mcpFailure(
        'mcp_invalid_headers',
        `The header ${name} is set by the MCP transport itself.`,
      );
    }
    // The value is a secret more often than not: never quoted.
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      return mcpFailure(
        'mcp_invalid_headers',
        `The value of the header ${name} is not a valid HTTP header value.`,
      );
    }
  }
  return null;
}

function connectionTarget(
  server: McpServer,
): { ok: true; target: ConnectionTarget } | { ok: false; failure: McpCallFailure } {
  const invalidHeaders = checkHeaders(server.headers ?? {});
  if (invalidHeaders) return fail(invalidHeaders);
  if (server.allowList) {
    const check = checkMcpUrl(server.url, server.allowList);
    if (!check.ok) {
      return fail(
        mcpFailure('mcp_url_refused', `The MCP server URL is not allowed: ${check.reason}.`),
      );
    }
    return {
      ok: true,
      target: {
        url: check.url,
        display: displayUrl(check.url),
        headers: server.headers ?? {},
        transport: server.transport ?? 'auto',
        guard: { allowList: server.allowList, addresses: check.addresses },
      },
    };
  }
  let url: URL;
  try {
    url = new URL(server.url);
  } catch {
    return fail(mcpFailure('mcp_url_refused', `"${server.url}" is not a valid MCP server URL.`));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail(
      mcpFailure(
        'mcp_url_refused',
        `MCP servers are reached over http or https, not ${url.protocol}.`,
      ),
    );
  }
  return {
    ok: true,
    target: {
      url,
      display: displayUrl(url),
      headers: server.headers ?? {},
      transport: server.transport ?? 'auto',
    },
  };
}

/**
 * Which connection a server gets: the same URL, headers, transport and allow-list share one.
 * Hashed, so that the map's keys never hold credentials in clear.
 */
function serverKey(server: McpServer, target: ConnectionTarget): string {
  const headers = Object.entries(target.headers)
    .map(([name, value]) => [name.toLowerCase(), value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(
      JSON.stringify([
        target.url.href,
        target.transport,
        headers,
        server.allowList?.fingerprint ?? null,
      ]),
    )
    .digest('base64url');
}

function isAllowed(name: string, allowedTools: readonly string[] | null | undefined): boolean {
  return !allowedTools || allowedTools.includes(name);
}

function filterAllowed(
  tools: McpTool[],
  allowedTools: readonly string[] | null | undefined,
): McpTool[] {
  return allowedTools ? tools.filter((tool) => allowedTools.includes(tool.name)) : tools;
}

function toMcpTool(tool: Tool): McpTool {
  const listed: McpTool = { name: tool.name, inputSchema: tool.inputSchema };
  if (tool.title !== undefined) listed.title = tool.title;
  if (tool.description !== undefined) listed.description = tool.description;
  if (tool.outputSchema !== undefined) listed.outputSchema = tool.outputSchema;
  if (tool.annotations !== undefined) listed.annotations = tool.annotations;
  return listed;
}

/** The call's arguments as an object, or `mcp_invalid_arguments` (written for the model). */
function parseArguments(
  call: McpToolCall,
): { ok: true; value: Record<string, unknown> } | { ok: false; failure: McpCallFailure } {
  const raw = call.arguments;
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  let value: unknown = raw;
  if (typeof raw === 'string') {
    // Models sometimes send no arguments at all for a tool without required parameters.
    if (raw.trim() === '') return { ok: true, value: {} };
    try {
      value = JSON.parse(raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return fail(
        mcpFailure(
          'mcp_invalid_arguments',
          `The arguments for the tool "${call.name}" are not valid JSON (${reason}); call it again with a JSON object that matches its input schema.`,
        ),
      );
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(
      mcpFailure(
        'mcp_invalid_arguments',
        `The arguments for the tool "${call.name}" must be a JSON object; call it again with a JSON object that matches its input schema.`,
      ),
    );
  }
  return { ok: true, value: value as Record<string, unknown> };
}
