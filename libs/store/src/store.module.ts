import { Module } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { ApiKeysRepository } from './api-keys.repository';
import { ConversationsRepository } from './conversations.repository';
import { EventsRepository } from './events.repository';
import { PrismaService } from './prisma.service';
import { ProgressRepository } from './progress.repository';
import { RecoveryRepository } from './recovery.repository';
import { ResponsesRepository } from './responses.repository';
import { Sql } from './sql';
import { StepsRepository } from './steps.repository';
import { StoredItemsRepository } from './stored-items.repository';

const repositories = [
  ApiKeysRepository,
  ConversationsRepository,
  EventsRepository,
  ProgressRepository,
  RecoveryRepository,
  ResponsesRepository,
  StepsRepository,
  StoredItemsRepository,
];

@Module({
  providers: [
    {
      provide: PrismaService,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new PrismaService(config.env.DATABASE_URL),
    },
    {
      provide: Sql,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new Sql(config.env.DATABASE_URL),
    },
    ...repositories,
  ],
  exports: [PrismaService, Sql, ...repositories],
})
export class StoreModule {}
