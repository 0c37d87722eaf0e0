import type { NextFunction, Request, Response } from 'express';
import { errorBody } from './error-body';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * Express error middleware for the JSON body parser, which runs before Nest's routing and
 * so before its exception filters: oversized bodies are 413s and broken JSON a 400.
 */
export function bodyParserErrors(
  error: BodyParserError,
  _request: Request,
  response: Response,
  next: NextFunction,
): void {
  if (error.type === 'entity.too.large') {
    response
      .status(413)
      .json(
        errorBody(
          413,
          `Request body too large: the limit is ${error.limit} bytes.`,
          null,
          'request_too_large',
        ),
      );
    return;
  }
  if (error.type === 'entity.parse.failed') {
    response
      .status(400)
      .json(
        errorBody(
          400,
          `We could not parse the JSON body of your request: ${error.message}.`,
          null,
          'invalid_json',
        ),
      );
    return;
  }
  if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') {
    response.status(415).json(errorBody(415, error.message, null, 'unsupported_encoding'));
    return;
  }
  if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
    // The rest of the parser's refusals (an aborted upload, a Content-Length that lies).
    response
      .status(error.status)
      .json(
        errorBody(
          error.status,
          `The request body could not be read: ${error.message}.`,
          null,
          'invalid_body',
        ),
      );
    return;
  }
  next(error);
}
