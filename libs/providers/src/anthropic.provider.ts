import { createParser } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import type { Deadline } from './abort-signals';
import { decodeAnthropicMessage } from './anthropic.decoder';
import { encodeAnthropicRequest } from './anthropic.encoder';
import { AnthropicStreamDecoder, streamTruncatedError } from './anthropic.stream-decoder';
import { ANTHROPIC_VERSION, anthropicErrorBodySchema } from './anthropic.wire';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import { parseRetryAfter, upstreamErrorForStatus } from './upstream-errors';
import {
  exchange,
  parseJsonBody,
  transportError,
  type UpstreamEndpoint,
  upstreamEndpoint,
  type UpstreamTimeoutOptions,
} from './upstream-http';

export interface AnthropicProviderOptions extends UpstreamTimeoutOptions {
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
    });
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    const { signal, onDelta } = callRequest;
    return exchange(this.endpoint, JSON.stringify(encodeAnthropicRequest(callRequest)), signal, {
      httpError,
      decodeBody: (text) => decodeAnthropicMessage(parseJsonBody(text)),
      decodeStream: onDelta
        ? (response, deadline) => this.readStream(response.body, onDelta, deadline, signal)
        : undefined,
    });
  }

  /**
   * Feeds the event stream to the decoder chunk by chunk. Only reading the socket is a
   * transport failure; an `error` event or a throwing listener propagates as it is.
   */
  private async readStream(
    body: ResponseBody,
    onDelta: (delta: ModelDelta) => void,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<ModelCallResult> {
    const decoder = new AnthropicStreamDecoder(onDelta);
    const parser = createParser({ onEvent: (event) => decoder.push(event.data) });
    const text = new TextDecoder();
    const chunks = body[Symbol.asyncIterator]();
    for (;;) {
      let chunk: IteratorResult<unknown>;
      try {
        chunk = await chunks.next();
      } catch (error) {
        throw transportError(error, {
          signal,
          deadline,
          timeouts: this.endpoint.timeouts,
          duringStream: streamTruncatedError,
        });
      }
      if (chunk.done) break;
      parser.feed(text.decode(chunk.value as Uint8Array, { stream: true }));
    }
    // A final event without its blank line is incomplete by the SSE rules and so dropped;
    // the missing message_stop then reports the stream as cut off.
    parser.feed(text.decode());
    return decoder.finish();
  }
}

function httpError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): UpstreamError {
  const upstream = parseErrorBody(text);
  const message = upstream?.message ?? `The upstream model answered HTTP ${status}.`;
  // 529 (overloaded) is a 5xx, so the shared classification already retries it.
  return upstreamErrorForStatus(status, message, {
    upstreamCode: upstream?.type ?? null,
    retryAfterMs: parseRetryAfter(headers),
  });
}

/** The message and error type of an Anthropic error body, or null for anything else. */
function parseErrorBody(text: string): { message: string; type: string } | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = anthropicErrorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.error : null;
}
