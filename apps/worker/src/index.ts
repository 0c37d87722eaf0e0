export * from './worker-app';
export * from './worker.module';
export { handBackDelay, InFlightRegistry } from './in-flight.registry';
