import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { isRetryableStatus } from '@ratchet/providers';

// Every way an MCP request can fail, as one typed value. Callers (the engine) never see the
// SDK's or undici's errors: they get a code to branch on, a message written for the model to
// read (it becomes the tool's error output), and whether trying again may help.

export type McpFailureCode =
  /** The URL, a redirect or an address its name resolved to is not allowed (see checkMcpUrl). */
  | 'mcp_url_refused'
  /** The server could not be reached: DNS, connection refused or reset, TLS. */
  | 'mcp_unreachable'
  /** Connecting or the request took longer than allowed. */
  | 'mcp_timeout'
  /** HTTP 401 or 403: the headers (credentials) were refused. */
  | 'mcp_auth_error'
  /** HTTP 404 from the endpoint (over both transports, when falling back). */
  | 'mcp_not_found'
  /** Any other HTTP error status. */
  | 'mcp_http_error'
  /** A JSON-RPC error answer (method not found, invalid params, ...) or a malformed message. */
  | 'mcp_protocol_error'
  /** The tool ran and reported an error (`isError: true`); the result comes with the failure. */
  | 'mcp_tool_error'
  /** The tool is not among the server's `allowedTools`; nothing was sent. */
  | 'mcp_tool_not_allowed'
  /** The call's arguments are not a JSON object; nothing was sent. */
  | 'mcp_invalid_arguments'
  /** A header is malformed or one the transport sets itself; nothing was sent. */
  | 'mcp_invalid_headers'
  /** The connection broke after the request was sent: the tool may or may not have run. */
  | 'mcp_connection_lost'
  /** The answer was larger than `maxResultBytes`; it was discarded and the request cancelled. */
  | 'mcp_result_too_large'
  /** The caller's signal aborted; the server was sent `notifications/cancelled`. */
  | 'mcp_cancelled';

export interface McpCallFailure {
  code: McpFailureCode;
  /** What happened, written for the model (and the `mcp_call` item's `error`). */
  message: string;
  /** Whether the same request may succeed if tried again later. */
  retryable: boolean;
  /** The HTTP status that caused it, when one did. */
  status?: number;
  /** The JSON-RPC error code the server answered with, when it did. */
  rpcCode?: number;
}

/** Where a failure happened, for its message. */
export interface FailureContext {
  /** The server as shown in messages (no query string, no headers). */
  server: string;
  /** What was being done: `connecting`, `listing tools`, `calling the tool "x"`. */
  action: string;
  /** Whether the request had been handed to a live connection (then a broken one is "lost"). */
  sent: boolean;
}

const RETRYABLE: Readonly<Record<McpFailureCode, boolean>> = {
  mcp_url_refused: false,
  mcp_unreachable: true,
  mcp_timeout: true,
  mcp_auth_error: false,
  mcp_not_found: false,
  mcp_http_error: false,
  mcp_protocol_error: false,
  mcp_tool_error: false,
  mcp_tool_not_allowed: false,
  mcp_invalid_arguments: false,
  mcp_invalid_headers: false,
  mcp_connection_lost: true,
  mcp_result_too_large: false,
  mcp_cancelled: false,
};

export function mcpFailure(
  code: McpFailureCode,
  message: string,
  details: { status?: number; rpcCode?: number; retryable?: boolean } = {},
): McpCallFailure {
  const failure: McpCallFailure = {
    code,
    message,
    retryable: details.retryable ?? RETRYABLE[code],
  };
  if (details.status !== undefined) failure.status = details.status;
  if (details.rpcCode !== undefined) failure.rpcCode = details.rpcCode;
  return failure;
}

/**
 * A connection guard refused where a request was going (a redirect off the allow-list, or a
 * name that resolved to a private address). Thrown from fetch, so the SDK passes it on.
 */
export class McpUrlRefusedError extends Error {
  readonly code = 'ERR_MCP_URL_REFUSED';
  constructor(readonly reason: string) {
    super(`Refused: ${reason}.`);
    this.name = 'McpUrlRefusedError';
  }
}

/** Undici and socket codes that mean the server could not be reached at all. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Codes of a connection that broke: before the request was sent it is unreachable, after it lost. */
const BROKEN_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNABORTED',
]);

/** Characters of a server's own message quoted: enough to explain, not to flood. */
const EXCERPT_CHARS = 300;

/**
 * The failure an SDK or network error stands for. The caller's abort, timeouts and the
 * connection guards are known to the caller and take precedence; this reads the rest.
 */
export function classifyMcpError(error: unknown, context: FailureContext): McpCallFailure {
  const refused = findInCauses(
    error,
    (e): e is McpUrlRefusedError => e instanceof McpUrlRefusedError,
  );
  if (refused) {
    return mcpFailure(
      'mcp_url_refused',
      `The MCP server at ${context.server} is not allowed: ${refused.reason}.`,
    );
  }
  const status = httpStatus(error);
  if (status !== null) return httpFailure(status, error, context);
  if (error instanceof McpError) return rpcFailure(error, context);
  const code = errorCodeInCauses(error);
  if (code && UNREACHABLE_CODES.has(code)) {
    return mcpFailure(
      'mcp_unreachable',
      `Could not reach the MCP server at ${context.server} (${code}).`,
    );
  }
  if (code && BROKEN_CODES.has(code)) return brokenConnection(code, context);
  if (isTlsError(code)) {
    return mcpFailure(
      'mcp_unreachable',
      `Could not reach the MCP server at ${context.server}: TLS failed (${code}).`,
    );
  }
  if (isSchemaError(error)) {
    return mcpFailure(
      'mcp_protocol_error',
      `The MCP server at ${context.server} answered ${context.action} with a malformed message.`,
    );
  }
  const detail = excerpt(messageOf(error));
  if (/^Not connected$/i.test(detail) || error instanceof SseError) {
    return brokenConnection(detail, context);
  }
  if (/protocol version is not supported|Endpoint origin does not match/i.test(detail)) {
    return mcpFailure(
      'mcp_protocol_error',
      `The MCP server at ${context.server} cannot be used: ${detail}.`,
    );
  }
  return context.sent
    ? mcpFailure(
        'mcp_connection_lost',
        `The MCP server at ${context.server} failed while ${context.action} (${detail}).`,
      )
    : mcpFailure(
        'mcp_unreachable',
        `Could not reach the MCP server at ${context.server} (${detail}).`,
      );
}

function brokenConnection(detail: string, context: FailureContext): McpCallFailure {
  return context.sent
    ? mcpFailure(
        'mcp_connection_lost',
        `The connection to the MCP server at ${context.server} broke while ${context.action} (${detail}); the request may or may not have been carried out.`,
      )
    : mcpFailure(
        'mcp_unreachable',
        `Could not reach the MCP server at ${context.server} (${detail}).`,
      );
}

function httpFailure(status: number, error: unknown, context: FailureContext): McpCallFailure {
  const body = serverText(messageOf(error));
  const said = body ? `: ${body}` : '.';
  if (status < 400) {
    // The SDK follows redirects only within the origin, and the allow-list checks each hop:
    // a redirect that reaches us was refused, and asking again gets the same answer.
    return mcpFailure(
      'mcp_http_error',
      `The MCP server at ${context.server} answered ${context.action} with a redirect (HTTP ${status}) that is not followed${said}`,
      { status, retryable: false },
    );
  }
  if (status === 401 || status === 403) {
    return mcpFailure(
      'mcp_auth_error',
      `The MCP server at ${context.server} refused the credentials (HTTP ${status})${said}`,
      { status },
    );
  }
  if (status === 404) {
    return mcpFailure(
      'mcp_not_found',
      `There is no MCP endpoint at ${context.server} (HTTP 404)${said}`,
      { status },
    );
  }
  return mcpFailure(
    'mcp_http_error',
    `The MCP server at ${context.server} answered HTTP ${status} while ${context.action}${said}`,
    {
      status,
      retryable: isRetryableStatus(status),
    },
  );
}

function rpcFailure(error: McpError, context: FailureContext): McpCallFailure {
  if (error.code === Number(ErrorCode.ConnectionClosed)) {
    return brokenConnection('connection closed', context);
  }
  if (error.code === Number(ErrorCode.RequestTimeout)) {
    return mcpFailure(
      'mcp_timeout',
      `The MCP server at ${context.server} did not answer in time while ${context.action}.`,
    );
  }
  // The SDK prefixes the server's message with "MCP error <code>: ".
  const serverMessage = excerpt(error.message.replace(/^MCP error -?\d+: /, ''));
  return mcpFailure(
    'mcp_protocol_error',
    `The MCP server at ${context.server} answered ${context.action} with error ${error.code} (${rpcCodeName(error.code)}): ${serverMessage}`,
    { rpcCode: error.code },
  );
}

const RPC_CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [ErrorCode.ParseError, 'parse error'],
  [ErrorCode.InvalidRequest, 'invalid request'],
  [ErrorCode.MethodNotFound, 'method not found'],
  [ErrorCode.InvalidParams, 'invalid params'],
  [ErrorCode.InternalError, 'internal error'],
]);

function rpcCodeName(code: number): string {
  const known = RPC_CODE_NAMES.get(code);
  if (known) return known;
  // JSON-RPC reserves -32000..-32099 for implementation-defined server errors.
  return code >= -32099 && code <= -32000 ? 'server error' : 'application error';
}

/**
 * The HTTP status behind an SDK transport error: Streamable HTTP and SSE errors carry it as
 * `code`; the SSE transport's POST errors only in their message.
 */
export function httpStatus(error: unknown): number | null {
  if (error instanceof StreamableHTTPError || error instanceof SseError) {
    return typeof error.code === 'number' && error.code >= 300 ? error.code : null;
  }
  if (error instanceof Error) {
    const match = /^Error POSTing to endpoint \(HTTP (\d{3})\)/.exec(error.message);
    if (match) return Number(match[1]);
  }
  return null;
}

/** What the server said in an SDK error message, without the SDK's prefix. */
function serverText(message: string): string {
  const text = message
    .replace(/^Streamable HTTP error: /, '')
    .replace(/^Error POSTing to endpoint(?: \(HTTP \d{3}\))?: /, '')
    .replace(/^SSE error: /, '')
    .trim();
  return excerpt(text === 'null' || text === 'undefined' ? '' : text);
}

function isTlsError(code: string | null): code is string {
  return code !== null && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(code);
}

/** A zod error: the SDK validates every message and result it receives. */
function isSchemaError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ZodError' || error.name === '$ZodError');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The text on one line and cut to EXCERPT_CHARS. */
export function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length <= EXCERPT_CHARS) return line;
  let cut = line.slice(0, EXCERPT_CHARS);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function findInCauses<T>(error: unknown, test: (value: unknown) => value is T): T | null {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth += 1) {
    if (test(current)) return current;
    current = typeof current === 'object' && 'cause' in current ? current.cause : undefined;
  }
  return null;
}

/** The first string `code` along the error's cause chain (undici puts the socket's there). */
function errorCodeInCauses(error: unknown): string | null {
  const withCode = findInCauses(
    error,
    (value): value is { code: string } =>
      typeof value === 'object' &&
      value !== null &&
      'code' in value &&
      typeof value.code === 'string',
  );
  return withCode?.code ?? null;
}
