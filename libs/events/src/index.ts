export * from './events.module';
export * from './response-bus';
