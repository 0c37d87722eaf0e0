import type { Dispatcher } from 'undici';
import { startDeadline } from './abort-signals';
import { decodeChatCompletion } from './openai-chat.decoder';
import { encodeChatRequest, type MaxTokensParameter } from './openai-chat.encoder';
import { decodeChatStream } from './openai-chat.stream';
import { openAIHttpError } from './openai-errors';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import {
  ERROR_BODY_BYTES,
  limitedBody,
  parseJsonBody,
  readLimitedText,
  postUpstream,
  timeoutError,
  transportError,
  type UpstreamEndpoint,
  upstreamEndpoint,
  type UpstreamSizeOptions,
  type UpstreamTimeoutOptions,
  withoutCredentials,
} from './upstream-http';

export interface OpenAIChatProviderOptions extends UpstreamTimeoutOptions, UpstreamSizeOptions {
  /** The API root, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request; they win over the defaults. */
  headers: Record<string, string>;
  /** The parameter that carries max_output_tokens (config `maxTokensParameter`). */
  maxTokensParameter?: MaxTokensParameter;
  /** Whether the upstream takes `verbosity` (config `acceptsVerbosity`); not sent otherwise. */
  acceptsVerbosity?: boolean;
  /**
   * Connection pool to use instead of a shared one; its own connect timeout then applies
   * instead of `connectTimeoutMs`.
   */
  dispatcher?: Dispatcher;
}

interface UpstreamReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A model behind an OpenAI-compatible `POST /chat/completions` endpoint. */
export class OpenAIChatProvider implements ModelProvider {
  private readonly endpoint: UpstreamEndpoint;

  constructor(private readonly options: OpenAIChatProviderOptions) {
    this.endpoint = upstreamEndpoint({
      baseUrl: options.baseUrl,
      path: 'chat/completions',
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      configured: options.headers,
      timeouts: options,
      dispatcher: options.dispatcher,
      maxResponseBytes: options.maxResponseBytes,
    });
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    // The encoder adds the stream options when onDelta is set.
    const body = JSON.stringify(
      encodeChatRequest(callRequest, this.options.maxTokensParameter, {
        verbosity: this.options.acceptsVerbosity ?? false,
      }),
    );
    if (callRequest.onDelta) return this.stream(body, callRequest.signal, callRequest.onDelta);
    const reply = await this.post(body, callRequest.signal);
    if (reply.status < 200 || reply.status >= 300) {
      throw httpError({ ...reply, text: withoutCredentials(this.endpoint, reply.text) });
    }
    return decodeChatCompletion(parseJsonBody(reply.text));
  }

  /** Sends one request and reads the whole reply under the call's deadline. */
  private async post(body: string, signal: AbortSignal | undefined): Promise<UpstreamReply> {
    const { timeouts } = this.endpoint;
    const deadline = startDeadline(timeouts.timeoutMs, signal);
    try {
      const response = await postUpstream(this.endpoint, body, {
        deadline,
        signal,
        stream: false,
      });
      const text = await readText(
        response.body,
        response.statusCode >= 200 && response.statusCode < 300
          ? this.endpoint.maxResponseBytes
          : ERROR_BODY_BYTES,
        response.statusCode < 200 || response.statusCode >= 300,
      );
      return { status: response.statusCode, headers: response.headers, text };
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      throw transportError(error, { signal, deadline, timeouts });
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Sends one streaming request and decodes the SSE body as it arrives, all under the call's
   * deadline. Failures before the body starts are classified as for `post`; once streaming,
   * the decoder's own errors (a cut-off or malformed stream) stand unless the caller aborted
   * or a timeout (the deadline, or the silence between chunks) is what really cut the stream.
   */
  private async stream(
    body: string,
    signal: AbortSignal | undefined,
    onDelta: (delta: ModelDelta) => void,
  ): Promise<ModelCallResult> {
    const { timeouts } = this.endpoint;
    const deadline = startDeadline(timeouts.timeoutMs, signal);
    let reply: Dispatcher.ResponseData | undefined;
    let streaming = false;
    try {
      reply = await postUpstream(this.endpoint, body, { deadline, signal, stream: true });
      if (reply.statusCode < 200 || reply.statusCode >= 300) {
        const text = withoutCredentials(
          this.endpoint,
          await readText(reply.body, ERROR_BODY_BYTES, true),
        );
        throw httpError({ status: reply.statusCode, headers: reply.headers, text });
      }
      streaming = true;
      return await decodeChatStream(
        limitedBody(reply.body, this.endpoint.maxResponseBytes),
        onDelta,
      );
    } catch (error) {
      if (signal?.aborted) throw transportError(error, { signal, deadline, timeouts });
      const timedOut = timeoutError(error, { deadline, timeouts });
      if (timedOut) throw timedOut;
      // While streaming, the decoder has made every read failure an UpstreamError, so anything
      // else was thrown by onDelta and is the caller's own.
      if (streaming || error instanceof UpstreamError) throw error;
      throw transportError(error, { signal, deadline, timeouts });
    } finally {
      if (reply && !reply.body.readableEnded) reply.body.destroy();
      deadline.dispose();
    }
  }
}

/**
 * Reads a body to the end, at most `maxBytes` of it (more is upstream_response_too_large, or
 * with `truncate` cut there); on any failure destroys it so the socket is not left half-read.
 */
async function readText(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  truncate = false,
): Promise<string> {
  try {
    return await readLimitedText(body, maxBytes, { truncate });
  } finally {
    if (!body.readableEnded) body.destroy();
  }
}

function httpError(reply: UpstreamReply): UpstreamError {
  return openAIHttpError(reply.status, reply.headers, reply.text);
}
