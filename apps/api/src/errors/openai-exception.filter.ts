import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { REQUEST_ID_HEADER, requestIdOf } from '../http/request-id';
import { describeError } from './describe-error';

/** Every error leaves the API in OpenAI's envelope (see describeError). */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const requestId = requestIdOf(request);
    const [status, body] = describeError(
      exception,
      `${request.method} ${request.path}`,
      this.logger,
      requestId,
    );
    if (response.headersSent) {
      // A stream already started; the only honest thing left is to end it.
      response.end();
      return;
    }
    response.setHeader(REQUEST_ID_HEADER, requestId);
    response.status(status).json(body);
  }
}
