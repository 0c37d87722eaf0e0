import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { JobQueue } from './job-queue';
import { QUEUE_NAME } from './jobs';
import { queueKeyPrefix } from './redis';
import { RedisConnection } from './redis-connection';

@Module({ providers: [RedisConnection], exports: [RedisConnection] })
class RedisConnectionModule {}

@Module({
  imports: [
    BullModule.forRootAsync({
      imports: [RedisConnectionModule],
      inject: [AppConfig, RedisConnection],
      useFactory: (config: AppConfig, connection: RedisConnection) => ({
        connection: connection.redis,
        prefix: queueKeyPrefix(config.env.RATCHET_REDIS_PREFIX),
      }),
    }),
    BullModule.registerQueue({ name: QUEUE_NAME }),
  ],
  providers: [JobQueue],
  exports: [JobQueue, BullModule],
})
export class QueueModule {}
