import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { dialectOf, type ItemList, type ResponseObject } from '@ratchet/core';
import type { Principal } from '@ratchet/store';
import type { Request, Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { EventStreamService } from './event-stream.service';
import { parseInputItemsQuery } from './input-items.query';
import type { ProgressView } from './progress';
import { ResponsesService } from './responses.service';
import type { ClientGone } from './terminal-waits';
import { parseIdempotencyKey, parseRetrieveQuery } from './request-headers';
import { traceparentToStore } from '@ratchet/telemetry';

/** Why an exchange's signal aborts; shared, since a DOMException per request costs a stack. */
const EXCHANGE_CLOSED = new Error('The HTTP exchange ended.');

/** Aborts when the exchange ends: answered, or the client went away first. */
export function exchangeClosed(response: Response): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => controller.abort(EXCHANGE_CLOSED));
  return controller.signal;
}

/** The client of an exchange is gone once the exchange ends: answered, or left first. */
export function exchangeGone(response: Response): ClientGone {
  return (listener) => {
    if (response.closed) {
      listener();
      return () => undefined;
    }
    response.once('close', listener);
    return () => response.off('close', listener);
  };
}

@Controller('v1/responses')
export class ResponsesController {
  constructor(
    private readonly responses: ResponsesService,
    private readonly streams: EventStreamService,
  ) {}

  @Post()
  async create(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const created = await this.responses.create(body, principal, exchangeGone(response), {
      idempotencyKey: parseIdempotencyKey(idempotencyKey),
      traceparent: traceparentToStore(request.headers.traceparent),
    });
    if (created.replayed) response.setHeader('idempotent-replayed', 'true');
    if (created.type === 'stream') {
      await this.streams.stream(created.responseId, -1, response, dialectOf(request.headers));
    } else response.status(200).json(created.response);
  }

  @Get(':id')
  async get(
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Headers('last-event-id') lastEventId: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const mode = parseRetrieveQuery(query, lastEventId);
    if (!mode.stream) {
      response.status(200).json(await this.responses.get(id, principal));
      return;
    }
    await this.responses.streamable(id, principal);
    await this.streams.stream(id, mode.after, response, dialectOf(request.headers));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponseObject> {
    return this.responses.cancel(id, principal);
  }

  @Delete(':id')
  delete(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ id: string; object: 'response'; deleted: true }> {
    return this.responses.delete(id, principal);
  }

  @Get(':id/steps')
  steps(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ProgressView> {
    return this.responses.progressOf(id, principal);
  }

  @Get(':id/input_items')
  inputItems(
    @Param('id') id: string,
    @Query() query: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ItemList> {
    return this.responses.inputItems(id, principal, parseInputItemsQuery(query));
  }
}
