export * from './app-config';
export * from './config.module';
export * from './env';
export * from './logger';
export * from './model-defaults';
export * from './ratchet-config';
export * from './run-main';
export * from './shutdown';
