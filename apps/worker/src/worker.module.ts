import { Module } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { EventsModule } from '@ratchet/events';
import { McpModule } from '@ratchet/mcp';
import { ProviderRegistry } from '@ratchet/providers';
import { QueueModule } from '@ratchet/queue';
import { StoreModule } from '@ratchet/store';
import { HttpToolClient } from '@ratchet/tools';
import { ApprovalPause } from './approval-pause';
import { DrainState } from './drain-state';
import { DrainWatch } from './drain-watch.service';
import { EngineService } from './engine.service';
import { InFlightRegistry } from './in-flight.registry';
import { StepExecutor } from './step-executor';
import { LeaseKeeper } from './lease-keeper';
import { McpTools } from './mcp-tools';
import { Liveness } from './liveness.service';
import { StreamEvents } from './stream-events';
import { QueueBacklog } from './queue-backlog';
import { Sweeper } from './sweeper.service';
import { StepsProcessor } from './steps.processor';
import { WorkerSlots } from './worker-slots';

@Module({
  imports: [StoreModule, QueueModule, EventsModule, McpModule.forRoot()],
  providers: [
    EngineService,
    ApprovalPause,
    StepExecutor,
    InFlightRegistry,
    StepsProcessor,
    StreamEvents,
    LeaseKeeper,
    Liveness,
    McpTools,
    Sweeper,
    DrainState,
    DrainWatch,
    WorkerSlots,
    QueueBacklog,
    {
      provide: HttpToolClient,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        new HttpToolClient({ maxResponseBytes: config.config.limits.maxToolOutputBytes }),
    },
    {
      provide: ProviderRegistry,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new ProviderRegistry(config.config),
    },
  ],
})
export class WorkerModule {}
