import type { Dispatcher } from 'undici';
import { abortError, type Deadline } from './abort-signals';
import { decodeResponse } from './openai-responses.decoder';
import { encodeResponsesRequest, type ResponsesDialect } from './openai-responses.encoder';
import { decodeResponsesStream } from './openai-responses.stream';
import { openAIHttpError } from './openai-errors';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
} from './provider';
import {
  exchange,
  limitedBody,
  parseJsonBody,
  timeoutError,
  type UpstreamEndpoint,
  upstreamEndpoint,
  type UpstreamSizeOptions,
  type UpstreamTimeoutOptions,
} from './upstream-http';

export interface OpenAIResponsesProviderOptions
  extends UpstreamTimeoutOptions, UpstreamSizeOptions {
  /** The API root, e.g. `https://api.openai.com/v1`; `/responses` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request; they win over the defaults. */
  headers: Record<string, string>;
  /** Whether the upstream takes `text.verbosity` (config `acceptsVerbosity`); default true. */
  acceptsVerbosity?: boolean;
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
  private readonly dialect: ResponsesDialect;

  constructor(options: OpenAIResponsesProviderOptions) {
    this.dialect = { verbosity: options.acceptsVerbosity ?? true };
    this.endpoint = upstreamEndpoint({
      baseUrl: options.baseUrl,
      path: 'responses',
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      configured: options.headers,
      timeouts: options,
      dispatcher: options.dispatcher,
      maxResponseBytes: options.maxResponseBytes,
    });
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    // The encoder asks for a stream when onDelta is set.
    const { signal, onDelta } = callRequest;
    const body = JSON.stringify(encodeResponsesRequest(callRequest, this.dialect));
    return exchange(this.endpoint, body, signal, {
      httpError: openAIHttpError,
      decodeBody: (text) => decodeResponse(parseJsonBody(text)),
      // A server that cannot stream may answer a stream request with the whole Response;
      // the caller then hears no deltas but still gets the turn.
      decodeStream: onDelta
        ? (response, deadline) =>
            isJson(response.headers)
              ? null
              : this.readStream(response.body, onDelta, deadline, signal)
        : undefined,
    });
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
      return await decodeResponsesStream(
        limitedBody(body, this.endpoint.maxResponseBytes),
        onDelta,
      );
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw timeoutError(error, { deadline, timeouts: this.endpoint.timeouts }) ?? error;
    }
  }
}

function isJson(headers: Headers): boolean {
  const type = headers['content-type'];
  return /^application\/json\b/i.test(Array.isArray(type) ? (type[0] ?? '') : (type ?? ''));
}
