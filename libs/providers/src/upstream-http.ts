import { type Dispatcher, request } from 'undici';
import { abortError, type Deadline, MAX_TIMER_MS } from './abort-signals';
import { UpstreamError } from './provider';

// What every HTTP provider does alike with a failed request or an unreadable body.

/** Undici errors that mean the upstream took too long rather than could not be reached. */
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The `code` of a Node or undici error (`ECONNREFUSED`, `UND_ERR_SOCKET`...), if any. */
export function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
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
    timeoutMs: number;
    duringStream?: (error: unknown) => Error;
  },
): Error {
  if (context.signal?.aborted) return abortError(context.signal);
  if (context.deadline.timedOut() || TIMEOUT_ERROR_CODES.has(errorCode(error) ?? '')) {
    return new UpstreamError(`The upstream model did not answer within ${context.timeoutMs} ms.`, {
      code: 'upstream_timeout',
      retryable: true,
      cause: error,
    });
  }
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

/** Where a provider sends its calls. */
export interface UpstreamEndpoint {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  dispatcher?: Dispatcher;
}

/**
 * POSTs a JSON body under the call's deadline. Undici's own timeouts (300 s) are raised to
 * the call's, or they would cut a long generation short; for a stream the body timeout then
 * bounds the silence between chunks. A failure to connect or send is a transport error.
 */
export async function postUpstream(
  endpoint: UpstreamEndpoint,
  body: string,
  call: { deadline: Deadline; signal: AbortSignal | undefined; accept: string },
): Promise<Dispatcher.ResponseData> {
  try {
    return await request(endpoint.url, {
      method: 'POST',
      headers: { accept: call.accept, ...endpoint.headers },
      body,
      signal: call.deadline.signal,
      dispatcher: endpoint.dispatcher,
      headersTimeout: Math.min(endpoint.timeoutMs, MAX_TIMER_MS),
      bodyTimeout: Math.min(endpoint.timeoutMs, MAX_TIMER_MS),
    });
  } catch (error) {
    throw transportError(error, { ...call, timeoutMs: endpoint.timeoutMs });
  }
}

/** Reads a whole reply body as text; losing the connection meanwhile is a transport error. */
export async function readUpstreamText(
  body: Dispatcher.ResponseData['body'],
  call: { deadline: Deadline; signal: AbortSignal | undefined; timeoutMs: number },
): Promise<string> {
  try {
    return await body.text();
  } catch (error) {
    throw transportError(error, call);
  }
}
