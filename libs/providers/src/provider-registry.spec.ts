import { parseRatchetConfig } from '@ratchet/config';
import { MockProvider } from './mock.provider';
import { AnthropicProvider } from './anthropic.provider';
import { OpenAIChatProvider } from './openai-chat.provider';
import { OpenAIResponsesProvider } from './openai-responses.provider';
import { UpstreamError } from './provider';
import { ProviderRegistry } from './provider-registry';

const CONFIG = `
models:
  gpt-4o-mini:
    provider: openai-chat
    baseUrl: https://api.openai.com/v1
    apiKey: \${OPENAI_API_KEY}
    fallbacks: [local]
  local:
    provider: openai-chat
    baseUrl: http://127.0.0.1:11434/v1
    upstreamModel: llama3.2
  mock:
    provider: mock
  responses-model:
    provider: openai-responses
    baseUrl: https://api.openai.com/v1
  claude:
    provider: anthropic
    baseUrl: https://api.anthropic.com
`;

function registry(): ProviderRegistry {
  return new ProviderRegistry(
    parseRatchetConfig(CONFIG, 'test.yaml', { OPENAI_API_KEY: 'sk-test' }),
  );
}

describe('ProviderRegistry', () => {
  it('knows the configured models and lists them in config order', () => {
    const models = registry();

    expect(models.has('gpt-4o-mini')).toBe(true);
    expect(models.has('claude')).toBe(true);
    expect(models.has('gpt-5')).toBe(false);
    expect(models.list().map((model) => model.id)).toEqual([
      'gpt-4o-mini',
      'local',
      'mock',
      'responses-model',
      'claude',
    ]);
    expect(models.list()[0].config).toMatchObject({ provider: 'openai-chat', apiKey: 'sk-test' });
  });

  it('resolves an openai-chat model with its upstream name and fallbacks', () => {
    const models = registry();

    const primary = models.resolve('gpt-4o-mini');
    const local = models.resolve('local');

    expect(primary.provider).toBeInstanceOf(OpenAIChatProvider);
    expect(primary).toMatchObject({ upstreamModel: 'gpt-4o-mini', fallbacks: ['local'] });
    expect(primary.config.baseUrl).toBe('https://api.openai.com/v1');
    expect(local).toMatchObject({ upstreamModel: 'llama3.2', fallbacks: [] });
  });

  it('creates one provider per model and reuses it', () => {
    const models = registry();

    const first = models.resolve('gpt-4o-mini').provider;

    expect(models.resolve('gpt-4o-mini').provider).toBe(first);
    expect(models.resolve('local').provider).not.toBe(first);
  });

  it('resolves the mock model to a working MockProvider', async () => {
    const { provider, upstreamModel } = registry().resolve('mock');

    const result = await provider.call({
      model: upstreamModel,
      instructions: null,
      input: [
        {
          type: 'message',
          id: 'msg_1',
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: '/reply pong' }],
        },
      ],
      tools: [],
      toolChoice: 'auto',
      parallelToolCalls: true,
      maxOutputTokens: null,
      temperature: null,
      topP: null,
      textFormat: null,
    });

    expect(provider).toBeInstanceOf(MockProvider);
    expect(result.output).toEqual([expect.objectContaining({ type: 'message' })]);
    expect(result.finishReason).toBe('stop');
  });

  it('builds an Anthropic provider for provider anthropic', () => {
    const { provider, upstreamModel } = registry().resolve('claude');
    expect(provider).toBeInstanceOf(AnthropicProvider);
    expect(upstreamModel).toBe('claude');
  });

  it('builds an OpenAI Responses provider for provider openai-responses', () => {
    expect(registry().resolve('responses-model').provider).toBeInstanceOf(OpenAIResponsesProvider);
  });

  it('throws a plain Error for an unknown model', () => {
    const models = registry();

    expect(() => models.resolve('gpt-5')).toThrow("Unknown model 'gpt-5'.");
    expect(() => models.resolve('gpt-5')).not.toThrow(UpstreamError);
  });
});
