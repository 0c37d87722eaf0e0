import type { HttpToolConfig } from '@ratchet/config';
import type { StepError } from '@ratchet/core';
import { type Deadline, MAX_TIMER_MS, startDeadline } from '@ratchet/providers';
import { type Dispatcher, request } from 'undici';
import { traceHeaders, traceHttpCall } from '@ratchet/telemetry';

// Runs one server-side http tool call. Every way a tool can fail becomes an error outcome,
// because the engine turns it into a function_call_output the model reads and reacts to; only
// the caller's own cancellation rejects, so the engine can tell "cancelled" from "failed".

/** What one tool call produced: the output text for the model, or an error the model reads. */
export type ToolOutcome = { ok: true; output: string } | { ok: false; error: StepError };

/** One function call the model made, as the engine recorded it. */
export interface HttpToolCall {
  /** The step's stable id, sent as `Idempotency-Key` so a tool can dedupe re-runs of a step. */
  stepId: string;
  /** The function name the model called; error messages name it for the model. */
  name: string;
  /** The model's JSON arguments text, sent as the request body. */
  arguments: string;
}

export interface HttpToolClientOptions {
  /** Connection pool to share across the process instead of undici's global one. */
  dispatcher?: Dispatcher;
  /** Largest response body read from a tool, in bytes; larger answers are an error. */
  maxResponseBytes?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Characters of a tool's body quoted in an error message: enough to explain, not to flood. */
const EXCERPT_CHARS = 500;

/**
 * Error bodies are only excerpted; reading this much of one still lets the connection be
 * reused for the common small error page, while a huge one is cut off instead of drained.
 */
const ERROR_BODY_BYTES = 64 * 1024;

/** Undici errors that mean the tool took too long rather than could not be reached. */
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

type ResponseBody = Dispatcher.ResponseData['body'];

/**
 * Calls http tools: `POST <url>` with the call's JSON arguments as the body.
 *
 * Outcomes:
 * - a 2xx JSON body: the JSON re-serialised compactly;
 * - a 2xx empty (or all-whitespace) body: `""`, since a tool that acts without answering
 *   (a 204, say) has succeeded and there is no JSON value to invent for it;
 * - anything else: an error whose message is written for the model to read.
 *
 * No retries here: the engine owns retry policy and records each attempt.
 */
export class HttpToolClient {
  private readonly dispatcher: Dispatcher | undefined;
  private readonly maxResponseBytes: number;

  constructor(options: HttpToolClientOptions = {}) {
    this.dispatcher = options.dispatcher;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /**
   * Resolves with the call's outcome; rejects only with `signal.reason` when `signal` aborts
   * before the outcome is known, after aborting the HTTP request (its connection is closed).
   */
  call(tool: HttpToolConfig, call: HttpToolCall, signal?: AbortSignal): Promise<ToolOutcome> {
    const attributes = { 'ratchet.tool.name': call.name, 'url.full': tool.url };
    return traceHttpCall(`tool ${call.name}`, attributes, () => this.post(tool, call, signal));
  }

  private async post(
    tool: HttpToolConfig,
    call: HttpToolCall,
    signal?: AbortSignal,
  ): Promise<ToolOutcome> {
    signal?.throwIfAborted();
    const body = requestBody(call);
    if (!body.ok) return body;

    const deadline = startDeadline(tool.timeoutMs, signal);
    try {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(tool.url, {
          method: 'POST',
          headers: requestHeaders(tool, call),
          body: body.text,
          signal: deadline.signal,
          dispatcher: this.dispatcher,
          // Undici's own defaults (300 s) would otherwise cut a long tool call short of timeoutMs.
          headersTimeout: Math.min(tool.timeoutMs, MAX_TIMER_MS),
          bodyTimeout: Math.min(tool.timeoutMs, MAX_TIMER_MS),
        });
      } catch (error) {
        return failure(transportError(error, 'connect', tool, call, deadline, signal));
      }
      try {
        return await this.readOutcome(response, call);
      } catch (error) {
        return failure(transportError(error, 'read', tool, call, deadline, signal));
      }
    } finally {
      deadline.dispose();
    }
  }

  private async readOutcome(
    response: Dispatcher.ResponseData,
    call: HttpToolCall,
  ): Promise<ToolOutcome> {
    const { statusCode } = response;
    const succeeded = statusCode >= 200 && statusCode < 300;
    const limit = succeeded
      ? this.maxResponseBytes
      : Math.min(this.maxResponseBytes, ERROR_BODY_BYTES);
    // An error body is still read up to the limit, however long it claims to be, for its excerpt.
    const declared = succeeded ? contentLength(response.headers) : null;
    const read = await readBody(response.body, limit, declared);
    // A body cut at the limit may end inside a character: that is not the tool's fault.
    const { text, valid } = decodeUtf8(read.bytes, !read.complete);
    const note = valid ? '' : ` ${NOT_UTF8_NOTE}`;

    if (!succeeded) {
      const excerpt = bodyExcerpt(text);
      return failure({
        code: 'tool_http_error',
        message: excerpt
          ? `The tool "${call.name}" failed with HTTP ${statusCode}: ${excerpt}${note}`
          : `The tool "${call.name}" failed with HTTP ${statusCode} and an empty body.`,
      });
    }
    if (!read.complete) {
      return failure({
        code: 'tool_response_too_large',
        message: `The tool "${call.name}" answered with more than ${this.maxResponseBytes} bytes, which is over the limit (limits.maxToolOutputBytes), so its answer was discarded.`,
      });
    }
    if (text.trim() === '') return { ok: true, output: '' };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return failure({
        code: 'tool_bad_response',
        message: `The tool "${call.name}" answered HTTP ${statusCode} with a body that is not JSON: ${bodyExcerpt(text)}${note}`,
      });
    }
    const output = JSON.stringify(json);
    return { ok: true, output: valid ? output : `${NOT_UTF8_NOTE} ${output}` };
  }
}

function failure(error: StepError): ToolOutcome {
  return { ok: false, error };
}

/** The body to send, or `invalid_arguments` without calling the tool when the model's is broken. */
function requestBody(
  call: HttpToolCall,
): { ok: true; text: string } | { ok: false; error: StepError } {
  // Models sometimes send no arguments at all for a tool without required parameters.
  if (call.arguments.trim() === '') return { ok: true, text: '{}' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(call.arguments);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      error: {
        code: 'invalid_arguments',
        message: `The arguments for the tool "${call.name}" are not valid JSON (${reason}); call it again with a JSON object that matches its parameters.`,
      },
    };
  }
  // Function parameters are always a JSON object schema, so anything else is a model mistake
  // the tool would only reject less clearly.
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return {
      ok: false,
      error: {
        code: 'invalid_arguments',
        message: `The arguments for the tool "${call.name}" must be a JSON object, not ${describeJsonValue(parsed)}; call it again with a JSON object that matches its parameters.`,
      },
    };
  }
  // The model's own text, not a re-serialisation, so the tool sees exactly what was recorded.
  return { ok: true, text: call.arguments };
}

function describeJsonValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function requestHeaders(tool: HttpToolConfig, call: HttpToolCall): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  // Lower-cased so a configured header replaces a default instead of being sent twice.
  for (const [name, value] of Object.entries(tool.headers)) headers[name.toLowerCase()] = value;
  // The contract headers come last: tool servers rely on them, so configuration cannot
  // replace them.
  headers['content-type'] = 'application/json';
  headers['idempotency-key'] = call.stepId;
  headers['user-agent'] = 'ratchet';
  return Object.assign(headers, traceHeaders());
}

function contentLength(headers: Dispatcher.ResponseData['headers']): number | null {
  const value = headers['content-length'];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/**
 * Reads at most `limit` bytes. When the body is longer it stops reading and destroys the body,
 * which makes undici close the connection (a half-read HTTP/1 connection cannot be reused);
 * on any other failure the body is destroyed too, so no socket is ever left half-read.
 */
async function readBody(
  body: ResponseBody,
  limit: number,
  declaredLength: number | null,
): Promise<{ bytes: Buffer; complete: boolean }> {
  // Destroying an unfinished undici body emits 'error' (RequestAbortedError); nobody else is
  // listening once we stop reading, so without this it would be an uncaught exception.
  body.on('error', ignore);
  try {
    if (declaredLength !== null && declaredLength > limit) {
      return { bytes: Buffer.alloc(0), complete: false };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size + chunk.length > limit) {
        chunks.push(chunk.subarray(0, limit - size));
        return { bytes: Buffer.concat(chunks), complete: false };
      }
      chunks.push(chunk);
      size += chunk.length;
    }
    return { bytes: Buffer.concat(chunks, size), complete: true };
  } finally {
    if (!body.readableEnded) body.destroy();
  }
}

function ignore(): void {}

/**
 * What the model reads before a tool's answer (or in its error) when the answer was not valid
 * UTF-8: the text it sees has U+FFFD where the bytes were, and it should know why.
 */
export const NOT_UTF8_NOTE =
  '[ratchet: tool answer was not valid UTF-8; shown with replacement characters]';

/**
 * UTF-8 text, invalid bytes replaced with U+FFFD, and whether there were any; a leading
 * byte-order mark is dropped, since JSON.parse would reject it. `cut`: the bytes end where a
 * limit cut them, so a character left unfinished there is dropped, not counted as invalid.
 */
function decodeUtf8(bytes: Buffer, cut: boolean): { text: string; valid: boolean } {
  try {
    return {
      text: new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: cut }),
      valid: true,
    };
  } catch {
    return { text: new TextDecoder('utf-8').decode(bytes, { stream: cut }), valid: false };
  }
}

/** The body on one line and cut to EXCERPT_CHARS, for quoting in an error message. */
function bodyExcerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length <= EXCERPT_CHARS) return line;
  let cut = line.slice(0, EXCERPT_CHARS);
  // Never end on half of a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * Maps a failed request to an error outcome, except the caller's abort, which is rethrown as
 * `signal.reason` (even when it raced with a timeout: a cancelled step must not be recorded
 * as failed).
 */
function transportError(
  error: unknown,
  phase: 'connect' | 'read',
  tool: HttpToolConfig,
  call: HttpToolCall,
  deadline: Deadline,
  signal: AbortSignal | undefined,
): StepError {
  signal?.throwIfAborted();
  const code = errorCode(error);
  if (deadline.timedOut() || TIMEOUT_ERROR_CODES.has(code ?? '')) {
    return {
      code: 'tool_timeout',
      message: `The tool "${call.name}" did not finish answering within ${tool.timeoutMs} ms.`,
    };
  }
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  return {
    code: 'tool_unreachable',
    message:
      phase === 'connect'
        ? `Could not reach the tool "${call.name}" (${detail}).`
        : `The connection to the tool "${call.name}" broke before it finished answering (${detail}).`,
  };
}

function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}
