import type { Dispatcher } from 'undici';
import { startDeadline } from './abort-signals';
import { decodeResponse } from './openai-responses.decoder';
import { encodeResponsesRequest } from './openai-responses.encoder';
import { responsesErrorBodySchema } from './openai-responses.wire';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelProvider,
  UpstreamError,
} from './provider';
import { parseRetryAfter, upstreamErrorForStatus } from './upstream-errors';
import {
  parseJsonBody,
  postUpstream,
  readUpstreamText,
  type UpstreamEndpoint,
} from './upstream-http';

export interface OpenAIResponsesProviderOptions {
  /** The API root, e.g. `https://api.openai.com/v1`; `/responses` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Extra headers for every request; they win over the defaults. */
  headers: Record<string, string>;
  /** Whole-call budget: connecting, waiting for headers and reading the body or stream. */
  timeoutMs: number;
  /** Connection pool to use instead of undici's global one. */
  dispatcher?: Dispatcher;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * A model behind a Responses API `POST /responses` endpoint (OpenAI's or an Open Responses
 * server). Each call is one model turn with `store: false`: ratchet keeps the loop and the
 * conversation, the upstream only answers.
 */
export class OpenAIResponsesProvider implements ModelProvider {
  private readonly endpoint: UpstreamEndpoint;

  constructor(options: OpenAIResponsesProviderOptions) {
    this.endpoint = {
      url: `${options.baseUrl.replace(/\/+$/, '')}/responses`,
      headers: buildHeaders(options.apiKey, options.headers),
      timeoutMs: options.timeoutMs,
      dispatcher: options.dispatcher,
    };
  }

  async call(callRequest: ModelCallRequest): Promise<ModelCallResult> {
    const body = JSON.stringify(encodeResponsesRequest(callRequest));
    const { signal } = callRequest;
    const { timeoutMs } = this.endpoint;
    const deadline = startDeadline(timeoutMs, signal);
    let response: Dispatcher.ResponseData | undefined;
    try {
      response = await postUpstream(this.endpoint, body, {
        deadline,
        signal,
        accept: 'application/json',
      });
      const text = await readUpstreamText(response.body, { deadline, signal, timeoutMs });
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw httpError(response.statusCode, response.headers, text);
      }
      return decodeResponse(parseJsonBody(text));
    } finally {
      // Whatever ended the call, the socket must not stay half-read.
      if (response && !response.body.readableEnded) response.body.destroy();
      deadline.dispose();
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
