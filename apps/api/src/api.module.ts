import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AppConfig } from '@ratchet/config';
import { EventsModule } from '@ratchet/events';
import { ProviderRegistry } from '@ratchet/providers';
import { QueueModule } from '@ratchet/queue';
import { StoreModule } from '@ratchet/store';
import { AdminController } from './admin/admin.controller';
import { AdminService } from './admin/admin.service';
import { AuthGuard } from './auth/auth.guard';
import { ConsoleModule } from './console/console.module';
import { CompactionController } from './compaction/compaction.controller';
import { CompactionService } from './compaction/compaction.service';
import { ConversationsController } from './conversations/conversations.controller';
import { ConversationsService } from './conversations/conversations.service';
import { OpenAIExceptionFilter } from './errors/openai-exception.filter';
import { HealthController } from './health/health.controller';
import { InputResolver } from './items/input-resolver.service';
import { MetricsController } from './metrics/metrics.controller';
import { ModelsController } from './models/models.controller';
import { OpenApiController } from './openapi/openapi.controller';
import { ResponsesController } from './responses/responses.controller';
import { EventStreamService } from './responses/event-stream.service';
import { ApprovalAnswers } from './responses/approval-answers';
import { ResponsesService } from './responses/responses.service';
import { TerminalWaits } from './responses/terminal-waits';
import { ResponsesWebSocketServer } from './websocket/responses-websocket.server';

@Module({
  imports: [StoreModule, QueueModule, EventsModule, ConsoleModule],
  controllers: [
    HealthController,
    MetricsController,
    ModelsController,
    ResponsesController,
    ConversationsController,
    CompactionController,
    OpenApiController,
    AdminController,
  ],
  providers: [
    ResponsesService,
    ApprovalAnswers,
    CompactionService,
    {
      // Compaction calls the model from the API process: it answers synchronously.
      provide: ProviderRegistry,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new ProviderRegistry(config.config),
    },
    EventStreamService,
    TerminalWaits,
    ResponsesWebSocketServer,
    ConversationsService,
    InputResolver,
    AdminService,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_FILTER, useClass: OpenAIExceptionFilter },
  ],
})
export class ApiModule {}
