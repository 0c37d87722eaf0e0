import { Module } from '@nestjs/common';
import { AppConfig, decodeSecretKey } from '@ratchet/config';
import { AdminRepository } from './admin.repository';
import { ApiKeysRepository } from './api-keys.repository';
import { ConversationsRepository } from './conversations.repository';
import { EventsRepository } from './events.repository';
import { OperationsRepository } from './operations.repository';
import { ProgressRepository } from './progress.repository';
import { RecoveryRepository } from './recovery.repository';
import { ResponseListRepository } from './response-list.repository';
import { ResponsesRepository } from './responses.repository';
import { Sealer } from './sealer';
import { SealingKeysRepository } from './sealing-keys.repository';
import { Sql } from './sql';
import { StepDetailsRepository } from './step-details.repository';
import { StepsRepository } from './steps.repository';
import { AdoptionRepository } from './adoption.repository';
import { ApprovalsRepository } from './approvals.repository';
import { StoredItemsRepository } from './stored-items.repository';
import { WorkersRepository } from './workers.repository';
import { TraceContextRepository } from './trace-context.repository';

const repositories = [
  AdminRepository,
  ApiKeysRepository,
  ConversationsRepository,
  EventsRepository,
  OperationsRepository,
  ProgressRepository,
  RecoveryRepository,
  ResponseListRepository,
  ResponsesRepository,
  SealingKeysRepository,
  StepDetailsRepository,
  StepsRepository,
  ApprovalsRepository,
  AdoptionRepository,
  StoredItemsRepository,
  WorkersRepository,
  TraceContextRepository,
];

@Module({
  providers: [
    {
      provide: Sql,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new Sql(config.env.DATABASE_URL),
    },
    {
      // RATCHET_SECRET_KEY when set, else the key kept in Postgres.
      provide: Sealer,
      inject: [AppConfig, SealingKeysRepository],
      useFactory: (config: AppConfig, keys: SealingKeysRepository) => {
        const secret = config.env.RATCHET_SECRET_KEY;
        const fixed = secret ? decodeSecretKey(secret) : null;
        return new Sealer(fixed ? () => Promise.resolve(fixed) : () => keys.deploymentKey());
      },
    },
    ...repositories,
  ],
  exports: [Sql, Sealer, ...repositories],
})
export class StoreModule {}
