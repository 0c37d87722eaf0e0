import { MCP_LABEL, MetricLabels, OTHER_LABEL } from './metric-labels';

describe('MetricLabels', () => {
  const labels = new MetricLabels({
    models: {
      mock: { provider: 'mock' },
      gpt: { provider: 'openai-chat' },
    } as never,
    tools: { echo: { type: 'http' }, helper: { type: 'agent' } } as never,
  });

  it('keeps configured model names and names their providers', () => {
    expect(labels.model('gpt')).toBe('gpt');
    expect(labels.provider('gpt')).toBe('openai-chat');
    expect(labels.provider('mock')).toBe('mock');
  });

  it('collapses names the config does not know to fixed labels', () => {
    expect(labels.model('gpt-from-a-client')).toBe(OTHER_LABEL);
    expect(labels.provider('gpt-from-a-client')).toBe(OTHER_LABEL);
    expect(labels.tool('client_function')).toBe(OTHER_LABEL);
    expect(labels.tool('docs__search')).toBe(MCP_LABEL);
    expect(labels.tool('helper')).toBe('helper');
  });

  it('labels a missing name as empty', () => {
    expect(labels.model(null)).toBe('');
    expect(labels.tool(undefined)).toBe('');
  });

  it('knows no names before it is configured', () => {
    expect(new MetricLabels(null).model('mock')).toBe(OTHER_LABEL);
  });
});
