import { type INestApplication, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig, ConfigModule } from '@ratchet/config';
import { ApiKeysRepository, TraceContextRepository } from '@ratchet/store';
import { configureTelemetry, traceRequests, useTraceContexts } from '@ratchet/telemetry';
import type { Server } from 'node:http';
import { withStorableRequestText } from '@ratchet/core';
import { json, type NextFunction, type Request, type Response } from 'express';
import { ApiModule } from './api.module';
import { bodyParserErrors } from './errors/body-parser-errors';
import { answerClientError } from './http/raw-answer';
import { admitInTurns } from './http/admission';
import { assignRequestId } from './http/request-id';
import { refuseMissingHost, storableRequestTarget, takeOverHostCheck } from './http/request-line';

/**
 * Builds the HTTP app (not yet listening). `extraModules` lets one process also host the
 * worker (`npm start`, `npm run dev`).
 */
export async function createApiApp(
  config: AppConfig,
  options: { logger?: LoggerService | false; extraModules?: unknown[] } = {},
): Promise<INestApplication> {
  @Module({
    imports: [ConfigModule.forRoot(config), ApiModule, ...((options.extraModules ?? []) as [])],
  })
  class RootModule {}

  configureTelemetry(config.config);
  const app = await NestFactory.create<NestExpressApplication>(RootModule, {
    bodyParser: false,
    logger: options.logger,
  });
  // Requests Node's HTTP parser refuses are answered in OpenAI's envelope too.
  const server: Server = app.getHttpServer();
  server.on('clientError', answerClientError);
  takeOverHostCheck(server);
  app.use(admitInTurns());
  app.use(assignRequestId);
  app.use(traceRequests);
  app.use(refuseMissingHost);
  app.use(storableRequestTarget);
  // Our own JSON parser so its failures (too large, malformed) get OpenAI-style answers.
  app.use(
    json({
      limit: config.env.RATCHET_BODY_LIMIT_BYTES,
      type: ['application/json', 'application/*+json'],
    }),
  );
  app.use(bodyParserErrors);
  app.use(storableBody);
  app.disable('x-powered-by');
  // Express would hash every answer for an ETag: 2% of the API's CPU one response at a time
  // (docs/cpu.md, "One response at a time"), for a header no client of the API revalidates with.
  app.set('etag', false);
  useTraceContexts(app.get(TraceContextRepository));
  if (config.env.RATCHET_ADMIN_KEY) {
    await app.get(ApiKeysRepository).ensureBootstrapAdmin(config.env.RATCHET_ADMIN_KEY);
  }
  return app;
}

/** Request text Postgres cannot store becomes U+FFFD as soon as the body is parsed. */
function storableBody(request: Request, _response: Response, next: NextFunction): void {
  if (request.body !== undefined) request.body = withStorableRequestText(request.body);
  next();
}
