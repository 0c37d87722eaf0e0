import type { Dispatcher } from 'undici';
import { abortError, type Deadline } from './abort-signals';
import { decodeAnthropicMessage } from './anthropic.decoder';
import { encodeAnthropicRequest } from './anthropic.encoder';
import { AnthropicStreamDecoder } from './anthropic.stream-decoder';
import { sseEvents } from './sse-stream';
import { ANTHROPIC_VERSION, anthropicErrorBodySchema } from './anthropic.wire';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import { upstreamHttpError } from './upstream-errors';
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

export interface AnthropicProviderOptions extends UpstreamTimeoutOptions, UpstreamSizeOptions {
  /** The API root, e.g. `https://api.anthropic.com/v1`; `/messages` is appended. */
  baseUrl: string;
  /** Sent as `x-api-key` when set. */
  apiKey?: string;
  /** Extra headers for every request (an `anthropic-beta`, say); they win over the defaults. */
  headers: Record<string, string>;
  /**
   * Connection pool to use instead of a shared one; its own connect timeout then applies
   * instead of `connectTimeoutMs`.
   */
  dispatcher?: Dispatcher;
}

type ResponseBody = Dispatcher.ResponseData['body'];

/** A Claude model behind Anthropic's `POST /messages` endpoint, plain or streaming. */
export class AnthropicProvider implements ModelProvider {
  private readonly endpoint: UpstreamEndpoint;

  constructor(options: AnthropicProviderOptions) {
    this.endpoint = upstreamEndpoint({
      baseUrl: options.baseUrl,
      path: 'messages',
      headers: {
        'anthropic-version': ANTHROPIC_VERSION,
        ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
      },
      configured: options.headers,
      timeouts: options,
      dispatcher: options.dispatcher,
      maxResponseBytes: options.maxResponseBytes,
    });
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    const { signal, onDelta } = callRequest;
    return exchange(this.endpoint, JSON.stringify(encodeAnthropicRequest(callRequest)), signal, {
      httpError,
      decodeBody: (text) => decodeAnthropicMessage(parseJsonBody(text), callRequest.model),
      decodeStream: onDelta
        ? (response, deadline) =>
            this.readStream(response.body, callRequest.model, onDelta, deadline, signal)
        : undefined,
    });
  }

  /**
   * Feeds the event stream to the decoder as it arrives. The decoder's own errors (an `error`
   * event, a cut-off stream) and a listener's throw stand, unless the caller aborted or a
   * timeout (the deadline, or the silence between chunks) is what really cut the stream.
   */
  private async readStream(
    body: ResponseBody,
    model: string,
    onDelta: (delta: ModelDelta) => void,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<ModelCallResult> {
    const decoder = new AnthropicStreamDecoder(onDelta, model);
    try {
      for await (const event of sseEvents(limitedBody(body, this.endpoint.maxResponseBytes))) {
        decoder.push(event.data);
      }
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw timeoutError(error, { deadline, timeouts: this.endpoint.timeouts }) ?? error;
    }
    return decoder.finish();
  }
}

function httpError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): UpstreamError {
  // 529 (overloaded) is a 5xx, so the shared classification already retries it.
  return upstreamHttpError(status, headers, parseErrorBody(text));
}

/** The message and error type (as its code) of an Anthropic error body, or null. */
function parseErrorBody(text: string): { message: string; code: string } | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = anthropicErrorBodySchema.safeParse(json);
  return parsed.success
    ? { message: parsed.data.error.message, code: parsed.data.error.type }
    : null;
}
