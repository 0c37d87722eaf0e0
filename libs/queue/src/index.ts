export * from './connection-errors';
export * from './job-queue';
export * from './jobs';
export * from './queue.module';
export * from './redis';
export * from './redis-connection';
