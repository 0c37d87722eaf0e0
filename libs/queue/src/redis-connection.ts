import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import type { Redis } from 'ioredis';
import { createRedis } from './redis';

/**
 * The process's Redis connection for queue commands. BullMQ leaves connections it was given
 * open, so this owner closes it after the queues and workers have shut down.
 */
@Injectable()
export class RedisConnection implements OnApplicationShutdown {
  readonly redis: Redis;

  constructor(config: AppConfig) {
    this.redis = createRedis(config.env.REDIS_URL, 'ratchet-queue');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
