import { Body, Controller, Post, Res } from '@nestjs/common';
import type { Principal } from '@ratchet/store';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator';
import { exchangeClosed } from '../responses/responses.controller';
import { CompactionService } from './compaction.service';

@Controller('v1/responses')
export class CompactionController {
  constructor(private readonly compaction: CompactionService) {}

  /** Compacts a conversation; a client that hangs up stops the summary's model call. */
  @Post('compact')
  async compact(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Res() response: Response,
  ): Promise<void> {
    const compacted = await this.compaction.compact(body, principal, exchangeClosed(response));
    response.status(200).json(compacted);
  }
}
