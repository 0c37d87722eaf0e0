import { Module } from '@nestjs/common';
import { StoreModule } from '@ratchet/store';
import { EventLog } from './event-log';
import { ResponseBus } from './response-bus';

@Module({
  imports: [StoreModule],
  providers: [ResponseBus, EventLog],
  exports: [ResponseBus, EventLog],
})
export class EventsModule {}
