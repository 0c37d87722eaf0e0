/**
 * Domain errors carry a kind and an OpenAI error code; they know nothing of HTTP. The API's
 * exception filter maps each kind to a status and OpenAI's error envelope.
 */
export type ErrorKind =
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'upstream'
  | 'unavailable';

export interface RatchetErrorOptions {
  param?: string | null;
  code?: string | null;
  cause?: unknown;
}

export class RatchetError extends Error {
  readonly kind: ErrorKind;
  readonly param: string | null;
  readonly code: string | null;

  constructor(kind: ErrorKind, message: string, options: RatchetErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'RatchetError';
    this.kind = kind;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
  }

  static invalid(message: string, param: string | null, code: string | null = null): RatchetError {
    return new RatchetError('invalid_request', message, { param, code });
  }

  static responseNotFound(id: string, param: string | null = null): RatchetError {
    return new RatchetError('not_found', `Response with id '${id}' not found.`, { param });
  }

  /**
   * A response that stopped existing while a request waited for it to end: deleted, or lost
   * when Postgres crashed before its record reached the disk. Whatever it did is gone with it.
   */
  static responseGone(id: string): RatchetError {
    return new RatchetError(
      'unavailable',
      `Response '${id}' no longer exists: it was deleted, or lost when the database restarted, while this request waited for it. Send the request again.`,
      { code: 'response_gone' },
    );
  }

  /** A `previous_response_id` that names no response the caller may continue. */
  static previousResponseNotFound(id: string): RatchetError {
    return new RatchetError('not_found', `Previous response with id '${id}' not found.`, {
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
  }

  static conversationNotFound(id: string, param: string | null = null): RatchetError {
    return new RatchetError('not_found', `Conversation with id '${id}' not found.`, { param });
  }

  /** A conversation runs one response at a time: `responseId` is still running in it. */
  static conversationLocked(id: string, responseId: string): RatchetError {
    return new RatchetError(
      'conflict',
      `Another response (${responseId}) is in progress in conversation '${id}'. Wait until it ends before creating the next one.`,
      { param: 'conversation', code: 'conversation_locked' },
    );
  }
}
