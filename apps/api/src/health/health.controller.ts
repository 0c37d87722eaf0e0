import { Controller, Get, Res } from '@nestjs/common';
import { JobQueue } from '@ratchet/queue';
import { Sql, statement } from '@ratchet/store';
import type { Response } from 'express';
import { Public } from '../auth/public.decorator';

type Check = 'ok' | 'unavailable';

const PING = statement('readiness-ping', 'SELECT 1');

/** Liveness (the process answers) and readiness (Postgres and Redis answer too). */
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly sql: Sql,
    private readonly queue: JobQueue,
  ) {}

  @Get('healthz')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async ready(
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ status: Check; postgres: Check; redis: Check }> {
    const [postgres, redis] = await Promise.all([
      probe(() => this.sql.query(PING)),
      probe(() => this.queue.ping()),
    ]);
    const body = {
      status: postgres === 'ok' && redis === 'ok' ? 'ok' : 'unavailable',
      postgres,
      redis,
    } as const;
    if (body.status !== 'ok') response.status(503);
    return body;
  }
}

const PROBE_TIMEOUT_MS = 2000;

async function probe(check: () => Promise<unknown>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}
