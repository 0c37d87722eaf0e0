export * from './events.module';
export * from './response-bus';
export * from './event-log';
