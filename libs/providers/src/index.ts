export * from './abort-signals';
export * from './provider';
export * from './upstream-errors';
export * from './openai-chat.provider';
export * from './mock.provider';
export * from './provider-registry';
export * from './retry-policy';
export * from './resilient-call';
