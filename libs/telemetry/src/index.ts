export * from './hooks';
export * from './metric-labels';
export * from './metrics';
export * from './metrics-server';
export * from './trace-ids';
export * from './tracing';
