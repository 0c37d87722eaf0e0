import { Controller, Get, NotFoundException, Res } from '@nestjs/common';
import type { Principal } from '@ratchet/store';
import { metrics } from '@ratchet/telemetry';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';

/**
 * Prometheus metrics of this process (the worker's too when it runs in it), for admin keys:
 * the API faces clients, and counts of models and tools are the operator's. A tenant key is
 * told what an unknown route would tell it.
 */
@Controller()
export class MetricsController {
  @Get('metrics')
  async metrics(
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<string> {
    if (!principal.admin) throw new NotFoundException('Cannot GET /metrics');
    const { contentType, body } = await metrics.exposition();
    response.setHeader('content-type', contentType);
    return body;
  }
}
