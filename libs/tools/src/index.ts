export * from './http-tool.client';
export * from './tool-resolution';
