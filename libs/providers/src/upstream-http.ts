import { MODEL_TIMEOUT_DEFAULTS } from '@ratchet/config';
import { Agent, type Dispatcher, request } from 'undici';
import { abortError, type Deadline, MAX_TIMER_MS, startDeadline } from './abort-signals';
import { UpstreamError } from './provider';
import { traceHeaders } from '@ratchet/telemetry';

// What every HTTP provider does alike: its timeouts, its connection pool, sending a request
// and classifying a request that failed or a body that could not be read.

/**
 * How long one upstream call may take, in milliseconds, phase by phase (the model config's
 * keys of the same names). `timeoutMs` bounds the whole call and so each phase too.
 */
export interface UpstreamTimeouts {
  /** The whole call: connecting, waiting for headers and reading the body or stream. */
  timeoutMs: number;
  /** TCP connect plus, for https, the TLS handshake. */
  connectTimeoutMs: number;
  /**
   * Streamed calls: sending the request until the response headers. Non-streamed calls wait
   * for headers up to `timeoutMs`, since an upstream sends them with the finished answer.
   */
  firstByteTimeoutMs: number;
  /** The longest silence between two chunks of a response body, streamed or not. */
  idleTimeoutMs: number;
}

/** Provider options for the timeouts: the whole-call one is required, phases default. */
export type UpstreamTimeoutOptions = Pick<UpstreamTimeouts, 'timeoutMs'> &
  Partial<Omit<UpstreamTimeouts, 'timeoutMs'>>;

export function resolveTimeouts(options: UpstreamTimeoutOptions): UpstreamTimeouts {
  return {
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? MODEL_TIMEOUT_DEFAULTS.connectTimeoutMs,
    firstByteTimeoutMs: options.firstByteTimeoutMs ?? MODEL_TIMEOUT_DEFAULTS.firstByteTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? MODEL_TIMEOUT_DEFAULTS.idleTimeoutMs,
  };
}

/**
 * Connection pools by connect timeout. The connect timeout is a pool setting in undici (not
 * a request one), so models with the same one share a pool, as they shared undici's global
 * one before; keep-alive connections to one upstream serve all its models.
 */
const pools = new Map<number, Agent>();

/** The pool a provider sends through: the one given (tests, callers), else a shared one. */
export function upstreamDispatcher(
  given: Dispatcher | undefined,
  connectTimeoutMs: number,
): Dispatcher {
  if (given) return given;
  const timeout = Math.min(connectTimeoutMs, MAX_TIMER_MS);
  let pool = pools.get(timeout);
  if (!pool) {
    pool = new Agent({ connect: { timeout } });
    pools.set(timeout, pool);
  }
  return pool;
}

/** The `code` of a Node or undici error (`ECONNREFUSED`, `UND_ERR_SOCKET`...), if any. */
export function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}

/**
 * Undici's error code for each phase timeout, and what its expiry tells an operator. Each is
 * an `upstream_timeout`, retryable; the message names the config key that expired.
 */
const PHASE_TIMEOUTS: Readonly<
  Record<string, { key: keyof UpstreamTimeouts; message: (ms: number) => string }>
> = {
  UND_ERR_CONNECT_TIMEOUT: {
    key: 'connectTimeoutMs',
    message: (ms) =>
      `Could not connect to the upstream model server within ${ms} ms (connectTimeoutMs).`,
  },
  UND_ERR_HEADERS_TIMEOUT: {
    key: 'firstByteTimeoutMs',
    message: (ms) =>
      `The upstream model server did not start answering within ${ms} ms (firstByteTimeoutMs).`,
  },
  UND_ERR_BODY_TIMEOUT: {
    key: 'idleTimeoutMs',
    message: (ms) =>
      `The upstream model server sent nothing for ${ms} ms in the middle of its answer (idleTimeoutMs).`,
  },
};

/**
 * The phase timeout behind `error`, looking one `cause` deep: stream decoders wrap a failed
 * read (an idle timeout among them) in their own error.
 */
function phaseTimeout(error: unknown): (typeof PHASE_TIMEOUTS)[string] | null {
  const direct = PHASE_TIMEOUTS[errorCode(error) ?? ''];
  if (direct) return direct;
  const cause = error instanceof Error ? error.cause : undefined;
  return PHASE_TIMEOUTS[errorCode(cause) ?? ''] ?? null;
}

/**
 * The timeout `error` stands for (the whole call's, or one phase's), or null when it is no
 * timeout. The whole call's deadline wins when it has passed, whatever undici reported.
 */
export function timeoutError(
  error: unknown,
  context: { deadline: Deadline; timeouts: UpstreamTimeouts },
): UpstreamError | null {
  const { timeouts } = context;
  const phase = context.deadline.timedOut() ? null : phaseTimeout(error);
  if (!phase && !context.deadline.timedOut()) return null;
  const ms = phase ? timeouts[phase.key] : timeouts.timeoutMs;
  const message = phase
    ? phase.message(ms)
    : `The upstream model did not finish answering within ${ms} ms (timeoutMs).`;
  return new UpstreamError(message, { code: 'upstream_timeout', retryable: true, cause: error });
}

/**
 * The error a request that failed in transport stands for: the caller's abort (its own
 * reason), a timeout, or an unreachable server. `duringStream` maps a connection lost after
 * the stream began, which reached the server fine: what failed is the turn's end.
 */
export function transportError(
  error: unknown,
  context: {
    signal: AbortSignal | undefined;
    deadline: Deadline;
    timeouts: UpstreamTimeouts;
    duringStream?: (error: unknown) => Error;
  },
): Error {
  if (context.signal?.aborted) return abortError(context.signal);
  const timedOut = timeoutError(error, context);
  if (timedOut) return timedOut;
  if (context.duringStream) return context.duringStream(error);
  const detail = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
  return new UpstreamError(`Could not reach the upstream model server (${detail}).`, {
    code: 'upstream_unreachable',
    retryable: true,
    cause: error,
  });
}

/** A 2xx body parsed as JSON; anything else is a bad response, not worth retrying. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UpstreamError('The upstream model answered with a body that is not JSON.', {
      code: 'upstream_bad_response',
      retryable: false,
      cause: error,
    });
  }
}

/** The default of `limits.maxUpstreamResponseBytes`: 16 MiB. */
export const DEFAULT_MAX_UPSTREAM_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes of an error (non-2xx) body read for its message; the rest is not read. A JSON error
 * cut here reads as no message, and the status alone classifies it.
 */
export const ERROR_BODY_BYTES = 64 * 1024;

/** Provider options for the answer's size. */
export interface UpstreamSizeOptions {
  /** Largest answer read from the upstream, body or stream, in bytes (config `limits`). */
  maxResponseBytes?: number;
}

/** Where a provider sends its calls. */
export interface UpstreamEndpoint {
  url: string;
  headers: Record<string, string>;
  timeouts: UpstreamTimeouts;
  dispatcher: Dispatcher;
  /** Credentials the endpoint sends (header values), kept out of error messages. */
  secrets: string[];
  /** Largest answer read, in bytes: more is an `upstream_response_too_large` error. */
  maxResponseBytes: number;
}

/**
 * An answer over the size limit. Not retryable: the same request would most likely get an
 * answer as large again, and each try would cost the limit's worth of memory and time.
 */
export function responseTooLargeError(maxBytes: number): UpstreamError {
  return new UpstreamError(
    `The upstream model's answer was larger than ${maxBytes} bytes (limits.maxUpstreamResponseBytes), so it was cut off and discarded.`,
    { code: 'upstream_response_too_large', retryable: false },
  );
}

/**
 * The body's chunks as they arrive, counted: once more than `maxBytes` arrived, it throws
 * responseTooLargeError instead of yielding them (the caller's finally destroys the body).
 * Nothing is buffered here, so an endless stream costs no more memory than its decoder holds.
 */
export async function* limitedBody<T extends Uint8Array | string>(
  body: AsyncIterable<T>,
  maxBytes: number,
): AsyncGenerator<T> {
  let size = 0;
  for await (const chunk of body) {
    size += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (size > maxBytes) throw responseTooLargeError(maxBytes);
    yield chunk;
  }
}

/**
 * Reads a whole body as UTF-8 text, at most `maxBytes` of it: more is responseTooLargeError,
 * or, with `truncate`, the text of the first `maxBytes` (an error body, read only for its
 * message). The count is kept as the bytes arrive; nothing past the limit is ever buffered.
 */
export async function readLimitedText(
  body: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
  options: { truncate?: boolean } = {},
): Promise<string> {
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (size + bytes.byteLength > maxBytes) {
      if (!options.truncate) throw responseTooLargeError(maxBytes);
      parts.push(decoder.decode(bytes.subarray(0, maxBytes - size)));
      return parts.join('');
    }
    size += bytes.byteLength;
    // Joined once at the end: appending to one growing string would copy it on every read.
    parts.push(decoder.decode(bytes, { stream: true }));
  }
  parts.push(decoder.decode());
  return parts.join('');
}

/** Headers whose values are not credentials. */
const PLAIN_HEADERS = new Set(['content-type', 'accept', 'anthropic-version', 'anthropic-beta']);

/**
 * An upstream's error text without the endpoint's credentials: an upstream may echo the key
 * it refused ("Incorrect API key provided: sk-..."), and the text goes on into the response's
 * `error.message` and the logs.
 */
export function withoutCredentials(endpoint: UpstreamEndpoint, text: string): string {
  let out = text;
  for (const secret of endpoint.secrets) out = out.replaceAll(secret, '[redacted]');
  return out;
}

/**
 * The endpoint for `path` under a provider's base URL, its pool chosen by connect timeout.
 * Its headers: JSON, the provider's own (its credentials, its API version), then the
 * configured ones, lower-cased so that one spelt `Authorization` replaces ours instead of
 * going out twice.
 */
export function upstreamEndpoint(options: {
  baseUrl: string;
  path: string;
  /** The provider's own headers, lower-case. */
  headers: Record<string, string>;
  /** Headers from the model's config; they win. */
  configured: Record<string, string>;
  timeouts: UpstreamTimeoutOptions;
  dispatcher?: Dispatcher;
  maxResponseBytes?: number;
}): UpstreamEndpoint {
  const timeouts = resolveTimeouts(options.timeouts);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...options.headers,
  };
  for (const [name, value] of Object.entries(options.configured))
    headers[name.toLowerCase()] = value;
  const secrets = Object.entries(headers)
    .filter(([name]) => !PLAIN_HEADERS.has(name))
    .flatMap(([, value]) => [value, value.replace(/^\S+\s+/, '')])
    .filter((value) => value.length >= 8)
    // Longest first, so a whole `Bearer <key>` goes before the key inside it.
    .sort((a, b) => b.length - a.length);
  return {
    url: `${options.baseUrl.replace(/\/+$/, '')}/${options.path}`,
    headers,
    secrets,
    timeouts,
    dispatcher: upstreamDispatcher(options.dispatcher, timeouts.connectTimeoutMs),
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_UPSTREAM_RESPONSE_BYTES,
  };
}

/**
 * POSTs a JSON body under the call's deadline. Undici's headers timeout is the first-byte one
 * for a stream and none otherwise (a non-streamed upstream answers headers only with the
 * finished turn, so only the whole call's deadline bounds that wait); its body timeout is the
 * idle one. Both replace undici's defaults (300 s), which know nothing of the model's config.
 * A failure to connect or send, or no headers in time, is a transport error.
 */
export async function postUpstream(
  endpoint: UpstreamEndpoint,
  body: string,
  call: { deadline: Deadline; signal: AbortSignal | undefined; stream: boolean },
): Promise<Dispatcher.ResponseData> {
  const { timeouts } = endpoint;
  try {
    return await request(endpoint.url, {
      method: 'POST',
      headers: {
        accept: call.stream ? 'text/event-stream' : 'application/json',
        ...endpoint.headers,
        ...traceHeaders(),
      },
      body,
      signal: call.deadline.signal,
      dispatcher: endpoint.dispatcher,
      // 0 turns undici's off: the call's deadline alone then bounds the wait.
      headersTimeout: call.stream ? Math.min(timeouts.firstByteTimeoutMs, MAX_TIMER_MS) : 0,
      bodyTimeout: Math.min(timeouts.idleTimeoutMs, MAX_TIMER_MS),
    });
  } catch (error) {
    throw transportError(error, { ...call, timeouts });
  }
}

/**
 * Reads a whole reply body as text, at most `maxBytes` of it (see readLimitedText); losing the
 * connection meanwhile is a transport error.
 */
export async function readUpstreamText(
  body: Dispatcher.ResponseData['body'],
  call: { deadline: Deadline; signal: AbortSignal | undefined; timeouts: UpstreamTimeouts },
  maxBytes: number,
  options: { truncate?: boolean } = {},
): Promise<string> {
  try {
    return await readLimitedText(body, maxBytes, options);
  } catch (error) {
    if (error instanceof UpstreamError && !call.signal?.aborted) throw error;
    throw transportError(error, call);
  }
}

/** How one exchange reads its answer: whole, or as it streams. */
export interface UpstreamAnswer<T> {
  /** The error for a non-2xx answer, from its status, headers and body. */
  httpError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    text: string,
  ): UpstreamError;
  /** Decodes a whole body. */
  decodeBody(text: string): T;
  /**
   * Set when the call streams: decodes the body as it arrives (classifying its own read
   * errors), or returns null to have it read whole instead (a server that answered a stream
   * request with plain JSON).
   */
  decodeStream?: (response: Dispatcher.ResponseData, deadline: Deadline) => Promise<T> | null;
}

/**
 * One upstream call under the call's deadline: POSTs `body`, turns a non-2xx answer into an
 * UpstreamError, decodes the answer, and never leaves the socket half-read, whatever ended
 * the call (an error, a listener's throw, an abort).
 */
export async function exchange<T>(
  endpoint: UpstreamEndpoint,
  body: string,
  signal: AbortSignal | undefined,
  answer: UpstreamAnswer<T>,
): Promise<T> {
  const { timeouts } = endpoint;
  const deadline = startDeadline(timeouts.timeoutMs, signal);
  let response: Dispatcher.ResponseData | undefined;
  try {
    response = await postUpstream(endpoint, body, {
      deadline,
      signal,
      stream: answer.decodeStream !== undefined,
    });
    const reply = response;
    const read = { deadline, signal, timeouts };
    if (reply.statusCode < 200 || reply.statusCode >= 300) {
      const text = await readUpstreamText(reply.body, read, ERROR_BODY_BYTES, { truncate: true });
      throw answer.httpError(reply.statusCode, reply.headers, withoutCredentials(endpoint, text));
    }
    const streamed = answer.decodeStream?.(reply, deadline) ?? null;
    return streamed
      ? await streamed
      : answer.decodeBody(await readUpstreamText(reply.body, read, endpoint.maxResponseBytes));
  } finally {
    if (response && !response.body.readableEnded) response.body.destroy();
    deadline.dispose();
  }
}
