import type { Dispatcher } from 'undici';
import { abortError, type Deadline, startDeadline } from './abort-signals';
import { decodeResponse } from './openai-responses.decoder';
import { encodeResponsesRequest } from './openai-responses.encoder';
import { decodeResponsesStream } from './openai-responses.stream';
import { responsesErrorBodySchema } from './openai-responses.wire';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import { parseRetryAfter, upstreamErrorForStatus } from './upstream-errors';
import {
  parseJsonBody,
  postUpstream,
  readUpstreamText,
  timeoutError,
  type UpstreamEndpoint,
  upstreamEndpoint,
  type UpstreamTimeoutOptions,
} from './upstream-http';

export interface OpenAIResponsesProviderOptions extends UpstreamTimeoutOptions {
  /** The API root, e.g. `https://api.openai.com/v1`; `/responses` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request; they win over the defaults. */
  headers: Record<string, string>;
  /**
   * Connection pool to use instead of a shared one; its own connect timeout then applies
   * instead of `connectTimeoutMs`.
   */
  dispatcher?: Dispatcher;
}

type Headers = Record<string, string | string[] | undefined>;
type ResponseBody = Dispatcher.ResponseData['body'];

/**
 * A model behind a Responses API `POST /responses` endpoint (OpenAI's or an Open Responses
 * server). Each call is one model turn with `store: false`: ratchet keeps the loop and the
 * conversation, the upstream only answers. A caller listening for deltas gets the turn as
 * an event stream (`stream: true`), others as one Response object.
 */
export class OpenAIResponsesProvider implements ModelProvider {
  private readonly endpoint: UpstreamEndpoint;

  constructor(options: OpenAIResponsesProviderOptions) {
    this.endpoint = upstreamEndpoint({
      baseUrl: options.baseUrl,
      path: 'responses',
      headers: buildHeaders(options.apiKey, options.headers),
      timeouts: options,
      dispatcher: options.dispatcher,
    });
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    // The encoder asks for a stream when onDelta is set.
    const body = JSON.stringify(encodeResponsesRequest(callRequest));
    const { signal, onDelta } = callRequest;
    const { timeouts } = this.endpoint;
    const deadline = startDeadline(timeouts.timeoutMs, signal);
    let response: Dispatcher.ResponseData | undefined;
    try {
      response = await postUpstream(this.endpoint, body, {
        deadline,
        signal,
        stream: onDelta !== undefined,
      });
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await readUpstreamText(response.body, { deadline, signal, timeouts });
        throw httpError(response.statusCode, response.headers, text);
      }
      // A server that cannot stream may answer a stream request with the whole Response;
      // the caller then hears no deltas but still gets the turn.
      if (!onDelta || isJson(response.headers)) {
        const text = await readUpstreamText(response.body, { deadline, signal, timeouts });
        return decodeResponse(parseJsonBody(text));
      }
      return await this.readStream(response.body, onDelta, deadline, signal);
    } finally {
      // Whatever ended the call (a terminal or error event, a listener's throw, an abort),
      // the socket must not stay half-read.
      if (response && !response.body.readableEnded) response.body.destroy();
      deadline.dispose();
    }
  }

  /**
   * Decodes the event stream as it arrives. The decoder's own errors (a cut-off or malformed
   * stream, a failed turn) stand unless the caller aborted or a timeout (the deadline, or the
   * silence between chunks) is what really cut the stream; a listener's throw propagates.
   */
  private async readStream(
    body: ResponseBody,
    onDelta: (delta: ModelDelta) => void,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<ModelCallResult> {
    try {
      return await decodeResponsesStream(body, onDelta);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw timeoutError(error, { deadline, timeouts: this.endpoint.timeouts }) ?? error;
    }
  }
}

function buildHeaders(
  apiKey: string | undefined,
  extra: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
  };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  // Lower-cased so a configured `Authorization` replaces ours instead of duplicating it.
  for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
  return headers;
}

function isJson(headers: Headers): boolean {
  const type = headers['content-type'];
  return /^application\/json\b/i.test(Array.isArray(type) ? (type[0] ?? '') : (type ?? ''));
}

function httpError(status: number, headers: Headers, text: string): UpstreamError {
  const upstream = parseErrorBody(text);
  const message = upstream?.message ?? `The upstream model answered HTTP ${status}.`;
  return upstreamErrorForStatus(status, message, {
    upstreamCode: upstream?.code ?? null,
    retryAfterMs: parseRetryAfter(headers),
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
  const parsed = responsesErrorBodySchema.safeParse(json);
  if (!parsed.success) return null;
  const { error } = parsed.data;
  if (typeof error === 'string') return { message: error, code: null };
  return { message: error.message, code: typeof error.code === 'string' ? error.code : null };
}
