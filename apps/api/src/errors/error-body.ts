import type { ErrorKind } from '@ratchet/core';

/** OpenAI's error envelope. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export const statusOfKind: Record<ErrorKind, number> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  upstream: 502,
  unavailable: 503,
};

const typeOfStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  408: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  431: 'invalid_request_error',
  429: 'rate_limit_error',
};

export function errorBody(
  status: number,
  message: string,
  param: string | null = null,
  code: string | null = null,
): ErrorBody {
  return { error: { message, type: typeOfStatus[status] ?? 'server_error', param, code } };
}
