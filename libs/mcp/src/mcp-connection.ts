import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport, SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startDeadline } from '@ratchet/providers';
import type { Dispatcher } from 'undici';
import { ABORTED, settleWithin, untilAborted } from './abort-race';
import type { McpAddressPolicy, McpAllowList, McpResolver } from './mcp-allow-list';
import { createMcpFetch, guardedAgent } from './mcp-fetch';
import { classifyMcpError, httpStatus, type McpCallFailure, mcpFailure } from './mcp-failures';

// One live MCP session with one server: an SDK Client over the transport that worked. The
// pool (McpClients) owns connections; this file knows how to open one (with the fallback to
// the older transport), how to tell that one has died, and how to close one politely.

/** Which transport to use: Streamable HTTP, falling back to HTTP+SSE (`auto`), or one of them. */
export type McpTransportSetting = 'auto' | 'streamable-http' | 'sse';
export type McpTransportKind = 'streamable-http' | 'sse';

/** Where and how to connect, with everything checked and parsed. */
export interface ConnectionTarget {
  url: URL;
  /** The URL as messages and logs show it: no query string, no credentials. */
  display: string;
  headers: Readonly<Record<string, string>>;
  transport: McpTransportSetting;
  /** Set for servers a request named: URLs and addresses must pass it. */
  guard?: { allowList: McpAllowList; addresses: McpAddressPolicy };
}

export interface ConnectionSettings {
  clientInfo: { name: string; version: string };
  connectTimeoutMs: number;
  /** The dispatcher of connections to servers the operator configured. */
  trustedDispatcher: Dispatcher;
  resolve: McpResolver;
  logger?: McpLogger;
}

/** What the pool hears from a connection. */
export interface ConnectionEvents {
  /** The server sent `notifications/tools/list_changed`. */
  toolsChanged(): void;
  /** The connection cannot be used any more (closed, its event stream gone, its session unknown). */
  lost(connection: McpConnection): void;
}

/** Where the library reports what callers do not see; Nest's Logger fits. */
export interface McpLogger {
  warn(message: string): void;
  debug?(message: string): void;
}

/** How long closing waits for the server to acknowledge the end of its session. */
const SESSION_TERMINATION_MS = 1_000;

/** HTTP statuses of a server that does not speak Streamable HTTP (the spec's fallback rule). */
const FALLBACK_STATUSES = new Set([400, 404, 405]);

export class McpConnection {
  /** Requests running on this connection; it closes only when none are left. */
  private inFlight = 0;
  private retired = false;
  private closing: Promise<void> | null = null;
  /** Progress tokens in use: MCP wants each unique among a session's active requests. */
  private readonly progressTokens = new Set<string>();

  constructor(
    readonly client: Client,
    private readonly transport: Transport,
    readonly kind: McpTransportKind,
    /** A dispatcher of its own (for a guarded server), closed with the connection. */
    private readonly ownDispatcher: Dispatcher | null,
  ) {}

  get closed(): boolean {
    return this.closing !== null;
  }

  /** Runs `work` as one of this connection's requests. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await work();
    } finally {
      this.inFlight -= 1;
      if (this.retired && this.inFlight === 0) void this.close();
    }
  }

  /** Takes `token` for one request if no other active request holds it. */
  claimProgressToken(token: string): boolean {
    if (this.progressTokens.has(token)) return false;
    this.progressTokens.add(token);
    return true;
  }

  releaseProgressToken(token: string): void {
    this.progressTokens.delete(token);
  }

  /** No new requests; closes once the running ones are done. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) void this.close();
  }

  /**
   * Ends the session: Streamable HTTP sessions are told to end (DELETE, as the spec asks of
   * clients that are done), for at most SESSION_TERMINATION_MS, then everything is closed.
   * Requests still running fail with a closed connection.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.transport instanceof StreamableHTTPClientTransport && this.transport.sessionId) {
        await settleWithin(this.transport.terminateSession(), SESSION_TERMINATION_MS);
      }
      await settleWithin(this.client.close(), SESSION_TERMINATION_MS);
      if (this.ownDispatcher)
        await settleWithin(this.ownDispatcher.destroy(), SESSION_TERMINATION_MS);
    })();
    return this.closing;
  }
}

export type ConnectOutcome =
  { ok: true; connection: McpConnection } | { ok: false; failure: McpCallFailure };

/**
 * Connects to `target` within `connectTimeoutMs`: the transport `preferred` names first
 * (the one that worked last time) or Streamable HTTP, then, in `auto` mode, the other one
 * when the first answers 400, 404 or 405 (the MCP spec's rule for telling a server that
 * only speaks the older HTTP+SSE transport).
 */
export async function openConnection(
  target: ConnectionTarget,
  settings: ConnectionSettings,
  events: ConnectionEvents,
  preferred?: McpTransportKind,
): Promise<ConnectOutcome> {
  const order = transportOrder(target.transport, preferred);
  const deadline = startDeadline(settings.connectTimeoutMs);
  try {
    const first = await attempt(order[0], target, settings, events, deadline.signal);
    if (first.ok) return first;
    const status = httpStatus(first.error);
    const canFallBack =
      order.length > 1 && status !== null && FALLBACK_STATUSES.has(status) && !deadline.timedOut();
    if (!canFallBack)
      return { ok: false, failure: connectFailure(first, target, settings, deadline.timedOut()) };
    const second = await attempt(order[1], target, settings, events, deadline.signal);
    if (second.ok) return second;
    const firstFailure = connectFailure(first, target, settings, false);
    const secondFailure = connectFailure(second, target, settings, deadline.timedOut());
    return {
      ok: false,
      failure: {
        ...firstFailure,
        message: `${firstFailure.message} The older HTTP+SSE transport failed too: ${secondFailure.message}`,
      },
    };
  } finally {
    deadline.dispose();
  }
}

function transportOrder(
  setting: McpTransportSetting,
  preferred: McpTransportKind | undefined,
): McpTransportKind[] {
  switch (setting) {
    case 'streamable-http':
      return ['streamable-http'];
    case 'sse':
      return ['sse'];
    case 'auto':
      return preferred === 'sse' ? ['sse', 'streamable-http'] : ['streamable-http', 'sse'];
  }
}

type Attempt =
  { ok: true; connection: McpConnection } | { ok: false; error: unknown; refused: string | null };

async function attempt(
  kind: McpTransportKind,
  target: ConnectionTarget,
  settings: ConnectionSettings,
  events: ConnectionEvents,
  signal: AbortSignal,
): Promise<Attempt> {
  let refused: string | null = null;
  const ownDispatcher = target.guard
    ? guardedAgent(target.guard.addresses, settings.resolve)
    : null;
  const fetch = createMcpFetch({
    dispatcher: ownDispatcher ?? settings.trustedDispatcher,
    allowList: target.guard?.allowList,
    onRefused: (reason) => (refused ??= reason),
  });
  const requestInit = { headers: { ...target.headers } };
  const transport =
    kind === 'sse'
      ? new SSEClientTransport(target.url, { fetch, requestInit })
      : new StreamableHTTPClientTransport(target.url, { fetch, requestInit });
  const client = new Client(settings.clientInfo, { capabilities: {} });
  // Registered before connecting: a server may change its tools the moment it is up.
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => events.toolsChanged());

  try {
    const connected = await untilAborted(
      client.connect(transport, { signal, timeout: settings.connectTimeoutMs }),
      signal,
    );
    if (connected === ABORTED) throw signal.reason;
  } catch (error) {
    await settleWithin(client.close(), SESSION_TERMINATION_MS);
    if (ownDispatcher) await settleWithin(ownDispatcher.destroy(), SESSION_TERMINATION_MS);
    return { ok: false, error, refused };
  }

  const connection = new McpConnection(client, transport, kind, ownDispatcher);
  client.onclose = () => events.lost(connection);
  client.onerror = (error) => {
    if (isFatal(kind, error) && !connection.closed) {
      settings.logger?.warn(`MCP connection to ${target.display} lost: ${error.message}`);
      // In a microtask: the old transport's EventSource reports the error before it arms
      // its reconnect timer, and closing it once it has clears that timer instead of
      // leaving it to fire into a closed source.
      queueMicrotask(() => {
        events.lost(connection);
        // The old transport's requests are answered on its event stream, which is gone:
        // closing fails them now instead of at their timeouts.
        if (kind === 'sse') void connection.close();
      });
      return;
    }
    // Expected noise: progress for tokens we hand out without listening, a stream that
    // ended with its request, a notification the server would not take.
    settings.logger?.debug?.(`MCP connection to ${target.display}: ${error.message}`);
  };
  return { ok: true, connection };
}

/**
 * Errors after which a connection is useless: the old transport's event stream failed (it
 * carries every answer), or a Streamable HTTP server no longer knows the session (HTTP 404
 * to the session's requests, e.g. after a restart).
 */
function isFatal(kind: McpTransportKind, error: Error): boolean {
  if (kind === 'sse') return error instanceof SseError;
  return error instanceof StreamableHTTPError && error.code === 404;
}

function connectFailure(
  attempted: Extract<Attempt, { ok: false }>,
  target: ConnectionTarget,
  settings: ConnectionSettings,
  timedOut: boolean,
): McpCallFailure {
  if (attempted.refused) {
    return mcpFailure(
      'mcp_url_refused',
      `The MCP server at ${target.display} is not allowed: ${attempted.refused}.`,
    );
  }
  if (timedOut) {
    return mcpFailure(
      'mcp_timeout',
      `Could not connect to the MCP server at ${target.display} within ${settings.connectTimeoutMs} ms.`,
    );
  }
  return classifyMcpError(attempted.error, {
    server: target.display,
    action: 'connecting',
    sent: false,
  });
}
