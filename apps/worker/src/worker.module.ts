import { Module } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { EventsModule } from '@ratchet/events';
import { ProviderRegistry } from '@ratchet/providers';
import { QueueModule } from '@ratchet/queue';
import { StoreModule } from '@ratchet/store';
import { EngineService } from './engine.service';
import { StepsProcessor } from './steps.processor';

@Module({
  imports: [StoreModule, QueueModule, EventsModule],
  providers: [
    EngineService,
    StepsProcessor,
    {
      provide: ProviderRegistry,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new ProviderRegistry(config.config),
    },
  ],
})
export class WorkerModule {}
