import { Module } from '@nestjs/common';
import { ResponseBus } from './response-bus';

@Module({ providers: [ResponseBus], exports: [ResponseBus] })
export class EventsModule {}
