import { acceptsVerbosityOf, contextWindowOf, knownContextWindow } from './model-defaults';

describe('knownContextWindow', () => {
  it.each([
    ['gpt-4o', 128_000],
    ['gpt-4o-mini-2024-07-18', 128_000],
    ['gpt-4.1', 1_047_576],
    ['gpt-4.1-nano', 1_047_576],
    ['gpt-5', 272_000],
    ['gpt-5-mini', 272_000],
    ['gpt-5.1-codex', 272_000],
    ['gpt-5-chat-latest', 128_000],
    ['o1', 200_000],
    ['o1-mini', 128_000],
    ['o3', 200_000],
    ['o4-mini', 200_000],
    ['claude-sonnet-4-5', 200_000],
    ['claude-3-5-haiku-20241022', 200_000],
    ['openai/gpt-4o', 128_000],
    ['GPT-4o', 128_000],
  ])('knows %s: %d tokens', (model, tokens) => {
    expect(knownContextWindow(model)).toBe(tokens);
  });

  it.each(['mock', 'llama-3.1-8b', 'gpt-4', 'gpt-3.5-turbo', 'omni', 'deepseek-chat'])(
    'knows nothing of %s',
    (model) => {
      expect(knownContextWindow(model)).toBeNull();
    },
  );
});

describe('contextWindowOf', () => {
  it("takes the config's window over a known one, and the upstream model's name over the key", () => {
    expect(contextWindowOf('gpt-4o', { contextWindow: 8_000 })).toBe(8_000);
    expect(contextWindowOf('fast', { upstreamModel: 'gpt-4o-mini' })).toBe(128_000);
    expect(contextWindowOf('mock', {})).toBeNull();
  });
});

describe('acceptsVerbosityOf', () => {
  const chat = { provider: 'openai-chat' } as const;
  const responses = { provider: 'openai-responses' } as const;

  it("says OpenAI's gpt-5 reasoning models take verbosity on either API", () => {
    for (const api of [chat, responses]) {
      expect(acceptsVerbosityOf('gpt-5', api)).toBe(true);
      expect(acceptsVerbosityOf('fast', { ...api, upstreamModel: 'openai/gpt-5-mini' })).toBe(true);
      expect(acceptsVerbosityOf('gpt-5-chat-latest', api)).toBe(false);
      expect(acceptsVerbosityOf('gpt-4o', api)).toBe(false);
      expect(acceptsVerbosityOf('o3', api)).toBe(false);
    }
  });

  it('says other Responses API servers take it, and other chat servers do not', () => {
    expect(acceptsVerbosityOf('llama', responses)).toBe(true);
    expect(acceptsVerbosityOf('llama', chat)).toBe(false);
  });

  it('lets the config say otherwise', () => {
    expect(acceptsVerbosityOf('llama', { ...chat, acceptsVerbosity: true })).toBe(true);
    expect(acceptsVerbosityOf('gpt-5', { ...responses, acceptsVerbosity: false })).toBe(false);
  });
});
