import { Module } from '@nestjs/common';
import { EventsModule } from '@ratchet/events';
import { QueueModule } from '@ratchet/queue';
import { StoreModule } from '@ratchet/store';
import { ConsoleController } from './console.controller';
import { ConsoleService } from './console.service';
import { ResponseChanges } from './response-changes';

/** The web console's reads and live changes. */
@Module({
  imports: [StoreModule, QueueModule, EventsModule],
  controllers: [ConsoleController],
  providers: [ConsoleService, ResponseChanges],
})
export class ConsoleModule {}
