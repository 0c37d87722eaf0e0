import { type Dispatcher, request } from 'undici';
import { abortError, type Deadline, MAX_TIMER_MS, startDeadline } from './abort-signals';
import { decodeChatCompletion } from './openai-chat.decoder';
import { encodeChatRequest } from './openai-chat.encoder';
import { chatErrorBodySchema } from './openai-chat.wire';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelProvider,
  UpstreamError,
} from './provider';
import { parseRetryAfter, upstreamErrorForStatus } from './upstream-errors';

export interface OpenAIChatProviderOptions {
  /** The API root, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request; they win over the defaults. */
  headers: Record<string, string>;
  /** Whole-call budget: connecting, waiting for headers and reading the body. */
  timeoutMs: number;
  /** Connection pool to use instead of undici's global one. */
  dispatcher?: Dispatcher;
}

interface UpstreamReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Undici errors that mean the upstream took too long rather than could not be reached. */
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** A model behind an OpenAI-compatible `POST /chat/completions` endpoint. */
export class OpenAIChatProvider implements ModelProvider {
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: OpenAIChatProviderOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.headers = buildHeaders(options.apiKey, options.headers);
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    const reply = await this.post(
      JSON.stringify(encodeChatRequest(callRequest)),
      callRequest.signal,
    );
    if (reply.status < 200 || reply.status >= 300) throw httpError(reply);
    return decodeChatCompletion(parseJsonBody(reply.text));
  }

  /** Sends one request and reads the whole reply under the call's deadline. */
  private async post(body: string, signal: AbortSignal | undefined): Promise<UpstreamReply> {
    const deadline = startDeadline(this.options.timeoutMs, signal);
    try {
      const response = await request(this.url, {
        method: 'POST',
        headers: this.headers,
        body,
        signal: deadline.signal,
        dispatcher: this.options.dispatcher,
        // Undici's own defaults (300 s) would cut a long generation short of timeoutMs.
        headersTimeout: Math.min(this.options.timeoutMs, MAX_TIMER_MS),
        bodyTimeout: Math.min(this.options.timeoutMs, MAX_TIMER_MS),
      });
      const text = await readText(response.body);
      return { status: response.statusCode, headers: response.headers, text };
    } catch (error) {
      throw this.transportError(error, signal, deadline);
    } finally {
      deadline.dispose();
    }
  }

  private transportError(
    error: unknown,
    signal: AbortSignal | undefined,
    deadline: Deadline,
  ): Error {
    if (signal?.aborted) return abortError(signal);
    if (deadline.timedOut() || TIMEOUT_ERROR_CODES.has(errorCode(error) ?? '')) {
      return new UpstreamError(
        `The upstream model did not answer within ${this.options.timeoutMs} ms.`,
        { code: 'upstream_timeout', retryable: true, cause: error },
      );
    }
    const detail = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
    return new UpstreamError(`Could not reach the upstream model server (${detail}).`, {
      code: 'upstream_unreachable',
      retryable: true,
      cause: error,
    });
  }
}

function buildHeaders(
  apiKey: string | undefined,
  extra: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
  };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  // Lower-cased so a configured `Authorization` replaces ours instead of duplicating it.
  for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
  return headers;
}

/** Reads a body to the end; on any failure destroys it so the socket is not left half-read. */
async function readText(body: Dispatcher.ResponseData['body']): Promise<string> {
  try {
    return await body.text();
  } finally {
    if (!body.readableEnded) body.destroy();
  }
}

function httpError(reply: UpstreamReply): UpstreamError {
  const retryAfterMs = parseRetryAfter(reply.headers);
  const upstream = parseErrorBody(reply.text);
  const message = upstream?.message ?? `The upstream model answered HTTP ${reply.status}.`;
  return upstreamErrorForStatus(reply.status, message, {
    upstreamCode: upstream?.code ?? null,
    retryAfterMs,
  });
}

/** The message and code of an OpenAI-style error body, or null for anything else. */
function parseErrorBody(text: string): { message: string; code: string | null } | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = chatErrorBodySchema.safeParse(json);
  if (!parsed.success) return null;
  const { error } = parsed.data;
  if (typeof error === 'string') return { message: error, code: null };
  return { message: error.message, code: typeof error.code === 'string' ? error.code : null };
}

function parseJsonBody(text: string): unknown {
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

function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}
