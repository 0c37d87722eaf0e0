import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import type { Principal } from '@ratchet/store';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { ConsoleService, type ResponseDetail, type ResponseSummaryPage } from './console.service';
import { parseResponseListQuery } from './response-list.query';
import { ResponseChanges } from './response-changes';

/** The reads the web console makes, beside the Responses API it also uses. */
@Controller('v1/console')
export class ConsoleController {
  constructor(
    private readonly console: ConsoleService,
    private readonly changes: ResponseChanges,
  ) {}

  @Get('session')
  session(@CurrentPrincipal() principal: Principal): {
    object: 'console.session';
    api_key: string;
    admin: boolean;
  } {
    return { object: 'console.session', api_key: principal.keyId, admin: principal.admin };
  }

  @Get('responses')
  responses(
    @Query() query: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponseSummaryPage> {
    return this.console.responsesPage(principal, parseResponseListQuery(query));
  }

  @Get('responses/:id')
  response(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponseDetail> {
    return this.console.responseDetail(principal, id);
  }

  @Get('changes')
  async changesStream(
    @CurrentPrincipal() principal: Principal,
    @Res() response: Response,
  ): Promise<void> {
    await this.changes.stream(principal, response);
  }

  @Get('keys')
  keys(@CurrentPrincipal() principal: Principal): ReturnType<ConsoleService['keys']> {
    return this.console.keys(principal);
  }
}
