import { acceptsVerbosityOf } from './model-defaults';

describe('acceptsVerbosityOf', () => {
  it("says OpenAI's gpt-5 reasoning models take verbosity, and others do not", () => {
    expect(acceptsVerbosityOf('gpt-5', {})).toBe(true);
    expect(acceptsVerbosityOf('fast', { upstreamModel: 'openai/gpt-5-mini' })).toBe(true);
    expect(acceptsVerbosityOf('gpt-5-chat-latest', {})).toBe(false);
    expect(acceptsVerbosityOf('gpt-4o', {})).toBe(false);
    expect(acceptsVerbosityOf('llama', {})).toBe(false);
  });

  it('lets the config say otherwise', () => {
    expect(acceptsVerbosityOf('llama', { acceptsVerbosity: true })).toBe(true);
    expect(acceptsVerbosityOf('gpt-5', { acceptsVerbosity: false })).toBe(false);
  });
});
