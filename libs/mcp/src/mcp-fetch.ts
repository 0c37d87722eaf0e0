import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import {
  Agent,
  type Dispatcher,
  fetch as undiciFetch,
  type RequestInit as UndiciRequestInit,
  Response as UndiciResponse,
} from 'undici';
import {
  checkMcpUrl,
  type McpAddressPolicy,
  type McpAllowList,
  type McpResolver,
} from './mcp-allow-list';
import { formatBytes } from './mcp-content';
import { type McpCallFailure, mcpFailure, McpUrlRefusedError } from './mcp-failures';
import { traceHeaders, traceHttpCall } from '@ratchet/telemetry';

// The one fetch every MCP transport of a connection uses (the SDK takes a `fetch` option for
// its POSTs, its GET streams and the old transport's EventSource). It is where ratchet's rules
// meet the wire:
// - for servers a request named, each URL (every redirect hop included) passes the allow-list
//   and each address a socket connects to passes the address policy, checked in the DNS
//   lookup of that very socket, so a name cannot resolve to a checked address first and a
//   private one later;
// - redirects are never left to undici: the SDK follows them only within the origin, and
//   this fetch sees (and checks) every hop;
// - the HTTP request that carries one of our MCP requests is bound to that request: it is
//   aborted with it, its body is cut off past the size cap, and a body that breaks fails
//   the request at once instead of leaving it waiting for an answer that cannot come.

/**
 * One MCP request in flight (a `tools/call` or a `tools/list` page), known to the fetch
 * through AsyncLocalStorage: the SDK sends the request's HTTP POST from inside the call that
 * made it, so the POST finds its request without the SDK having to pass anything along.
 */
export class RequestScope {
  private readonly controller = new AbortController();
  /** Aborts when the request fails here (too large, broken) or when `parent` aborts. */
  readonly signal: AbortSignal;
  private settledWith: McpCallFailure | null = null;
  private done = false;

  constructor(
    readonly maxResponseBytes: number,
    /** Describes the request in failure messages: `calling the tool "x" on <server>`. */
    private readonly describe: { server: string; action: string },
    parent: AbortSignal,
  ) {
    this.signal = AbortSignal.any([parent, this.controller.signal]);
  }

  /** Why the request failed here, if it did. */
  get failure(): McpCallFailure | null {
    return this.settledWith;
  }

  /** The request got its answer: later trouble on its HTTP body concerns nobody. */
  finish(): void {
    this.done = true;
  }

  tooLarge(bytes: number): void {
    this.fail(
      mcpFailure(
        'mcp_result_too_large',
        `The MCP server at ${this.describe.server} sent more than ${formatBytes(this.maxResponseBytes)} (${formatBytes(bytes)} so far) while ${this.describe.action}, which is over the limit, so the answer was discarded.`,
      ),
    );
  }

  broken(error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.fail(
      mcpFailure(
        'mcp_connection_lost',
        `The connection to the MCP server at ${this.describe.server} broke while ${this.describe.action} (${detail}); the request may or may not have been carried out.`,
      ),
    );
  }

  private fail(failure: McpCallFailure): void {
    if (this.done || this.settledWith || this.signal.aborted) return;
    this.settledWith = failure;
    this.controller.abort(new Error(failure.message));
  }
}

export const requestScopes = new AsyncLocalStorage<RequestScope>();

export interface McpFetchOptions {
  dispatcher: Dispatcher;
  /** For servers a request named: every URL fetched must pass it. */
  allowList?: McpAllowList;
  /** Told why a URL was refused; the old transport's EventSource hides fetch errors. */
  onRefused?: (reason: string) => void;
}

/** The fetch for one connection's transports. */
export function createMcpFetch(options: McpFetchOptions): FetchLike {
  const mcpFetch = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input.href;
    if (options.allowList) {
      const check = checkMcpUrl(url, options.allowList);
      if (!check.ok) {
        options.onRefused?.(check.reason);
        throw new McpUrlRefusedError(check.reason);
      }
    }
    const scope = carriesRequest(init) ? requestScopes.getStore() : undefined;
    const signal = scope
      ? init?.signal
        ? AbortSignal.any([init.signal, scope.signal])
        : scope.signal
      : (init?.signal ?? undefined);
    const response = await traceHttpCall('mcp', { 'url.full': url }, () =>
      undiciFetch(url, {
        // The SDK's init is typed with Node's bundled undici; this undici reads it the same.
        ...(init as UndiciRequestInit | undefined),
        headers: withTraceHeaders(init?.headers),
        signal,
        redirect: 'manual',
        dispatcher: options.dispatcher,
      }),
    );
    if (!scope || !response.ok || !response.body) return response;
    return guardBody(response, scope);
  };
  return mcpFetch;
}

/** The SDK's headers, with the current trace's `traceparent` when traces are on. */
function withTraceHeaders(headers: RequestInit['headers']): UndiciRequestInit['headers'] {
  const trace = traceHeaders();
  if (!('traceparent' in trace)) return headers as UndiciRequestInit['headers'];
  const merged = new Headers(headers);
  for (const [name, value] of Object.entries(trace)) merged.set(name, value);
  return merged as UndiciRequestInit['headers'];
}

/** Whether an HTTP request carries a JSON-RPC request (not a notification, not a GET). */
function carriesRequest(init: RequestInit | undefined): boolean {
  if (typeof init?.body !== 'string') return false;
  try {
    const message = JSON.parse(init.body) as unknown;
    return (
      typeof message === 'object' &&
      message !== null &&
      'method' in message &&
      'id' in message &&
      message.id !== undefined
    );
  } catch {
    return false;
  }
}

/**
 * The response with a body that counts its bytes against the scope's cap and tells the
 * scope when it breaks. The scope then fails the request: the SDK would otherwise wait for
 * an answer on a stream that has ended, until the request's timeout.
 */
function guardBody(response: UndiciResponse, scope: RequestScope): Response {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        scope.broken(error);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        controller.close();
        return;
      }
      bytes += chunk.value.byteLength;
      if (bytes > scope.maxResponseBytes) {
        scope.tooLarge(bytes);
        reader.cancel().catch(() => undefined);
        controller.error(new Error('The MCP answer is over the size limit.'));
        return;
      }
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new UndiciResponse(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for sockets (net/tls `connect`) that resolves with `resolve` and refuses when
 * any address is not allowed, so a connection only ever reaches addresses that passed.
 */
export function guardedLookup(policy: McpAddressPolicy, resolve: McpResolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addresses) => {
        for (const address of addresses) {
          const refusal = policy.refusal(address);
          if (refusal) {
            callback(new McpUrlRefusedError(refusal), '');
            return;
          }
        }
        const family = options.family === 4 || options.family === 6 ? options.family : null;
        const entries = addresses
          .map((address) => ({ address, family: isIP(address) }))
          .filter((entry) => family === null || entry.family === family);
        if (entries.length === 0) {
          const error: NodeJS.ErrnoException = new Error(`${hostname} has no usable address`);
          error.code = 'ENOTFOUND';
          callback(error, '');
          return;
        }
        if (options.all) callback(null, entries);
        else callback(null, entries[0].address, entries[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/** A dispatcher whose sockets resolve names through the guard. */
export function guardedAgent(policy: McpAddressPolicy, resolve: McpResolver): Agent {
  return new Agent({ connect: { lookup: guardedLookup(policy, resolve) } });
}
