import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import type { AuditEntry, LiveResponse, Principal, WorkerView } from '@ratchet/store';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { AdminGuard } from './admin.guard';
import {
  auditQuerySchema,
  overviewQuerySchema,
  parseDrain,
  parsePurge,
  parseQuery,
  parseResponseFilter,
  stuckQuerySchema,
} from './admin.schemas';
import { AdminService } from './admin.service';
import type { Overview, PurgeResult, ResponsesAction } from './admin.types';

/** Operator controls: admin keys only (AdminGuard); every change is audited. */
@Controller('v1/admin')
@UseGuards(AdminGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('stuck')
  stuck(
    @Query() query: unknown,
  ): Promise<{ object: 'list'; data: LiveResponse[]; has_more: boolean }> {
    return this.admin.stuck(parseQuery(stuckQuerySchema, query));
  }

  @Post('responses/requeue')
  @HttpCode(200)
  requeue(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponsesAction> {
    return this.admin.requeue(parseResponseFilter(body), principal);
  }

  @Post('responses/cancel')
  @HttpCode(200)
  cancel(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ResponsesAction> {
    return this.admin.cancel(parseResponseFilter(body), principal);
  }

  @Get('workers')
  async workers(): Promise<{ object: 'list'; data: WorkerView[] }> {
    return { object: 'list', data: await this.admin.workers() };
  }

  @Post('workers/:id/drain')
  @HttpCode(200)
  drain(
    @Param('id') id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<WorkerView & { audit_id: number }> {
    parseDrain(body);
    return this.admin.drain(id, principal);
  }

  @Post('purge')
  @HttpCode(200)
  purge(@Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<PurgeResult> {
    return this.admin.purge(parsePurge(body), principal);
  }

  @Get('audit')
  audit(@Query() query: unknown): Promise<{
    object: 'list';
    data: AuditEntry[];
    first_id: number | null;
    last_id: number | null;
    has_more: boolean;
  }> {
    return this.admin.auditTrail(parseQuery(auditQuerySchema, query));
  }

  @Get('overview')
  overview(@Query() query: unknown): Promise<Overview> {
    return this.admin.overview(parseQuery(overviewQuerySchema, query).window_seconds);
  }
}
