import { Module } from '@nestjs/common';
import { EventsModule } from '@ratchet/events';
import { StoreModule } from '@ratchet/store';
import { ConsoleAssetsController } from './console-assets.controller';
import { ConsoleController } from './console.controller';
import { ConsoleService } from './console.service';
import { ResponseChanges } from './response-changes';

/** The web console: its page, and the reads and live changes it shows. */
@Module({
  imports: [StoreModule, EventsModule],
  controllers: [ConsoleController, ConsoleAssetsController],
  providers: [ConsoleService, ResponseChanges],
})
export class ConsoleModule {}
