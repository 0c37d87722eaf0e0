export * from './migrate';
export * from './api-keys.repository';
export * from './events.repository';
export * from './prisma.service';
export * from './responses.repository';
export * from './sql';
export * from './steps.repository';
export * from './store.module';
