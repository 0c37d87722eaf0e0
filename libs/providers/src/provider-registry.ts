import { acceptsVerbosityOf, type ModelConfig, type RatchetConfig } from '@ratchet/config';
import { AnthropicProvider } from './anthropic.provider';
import { MockProvider } from './mock.provider';
import { OpenAIChatProvider } from './openai-chat.provider';
import { OpenAIResponsesProvider } from './openai-responses.provider';
import type { ModelProvider } from './provider';
import type { UpstreamTimeouts } from './upstream-http';

export interface ResolvedModel {
  provider: ModelProvider;
  /** The model name to send upstream: the config's `upstreamModel`, else the client's name. */
  upstreamModel: string;
  config: ModelConfig;
  /** Models to try, in order, when this one fails with a retryable error. */
  fallbacks: string[];
}

/** The configured models, each with one provider instance made on first use. */
export class ProviderRegistry {
  private readonly models: ReadonlyMap<string, ModelConfig>;
  private readonly providers = new Map<string, ModelProvider>();
  private readonly maxResponseBytes: number | undefined;

  constructor(config: Pick<RatchetConfig, 'models'> & { limits?: RatchetConfig['limits'] }) {
    this.models = new Map(Object.entries(config.models));
    this.maxResponseBytes = config.limits?.maxUpstreamResponseBytes;
  }

  has(model: string): boolean {
    return this.models.has(model);
  }

  list(): { id: string; config: ModelConfig }[] {
    return [...this.models].map(([id, config]) => ({ id, config }));
  }

  /** Throws a plain Error for a name `has` denies: callers validate request models first. */
  resolve(model: string): ResolvedModel {
    const config = this.models.get(model);
    if (!config) throw new Error(`Unknown model '${model}'.`);
    return {
      provider: this.providerFor(model, config),
      upstreamModel: config.upstreamModel ?? model,
      config,
      fallbacks: [...config.fallbacks],
    };
  }

  private providerFor(model: string, config: ModelConfig): ModelProvider {
    let provider = this.providers.get(model);
    if (!provider) {
      provider = createProvider(model, config, this.maxResponseBytes);
      this.providers.set(model, provider);
    }
    return provider;
  }
}

function createProvider(
  model: string,
  config: ModelConfig,
  maxResponseBytes: number | undefined,
): ModelProvider {
  switch (config.provider) {
    case 'openai-chat':
      return new OpenAIChatProvider({
        baseUrl: requireBaseUrl(model, config),
        apiKey: config.apiKey,
        headers: config.headers,
        ...upstreamTimeouts(config),
        maxResponseBytes,
        maxTokensParameter: config.maxTokensParameter,
        acceptsVerbosity: acceptsVerbosityOf(model, config),
      });
    case 'anthropic':
      return new AnthropicProvider({
        baseUrl: requireBaseUrl(model, config),
        apiKey: config.apiKey,
        headers: config.headers,
        ...upstreamTimeouts(config),
        maxResponseBytes,
      });
    case 'mock':
      return new MockProvider({ timeoutMs: config.timeoutMs });
    case 'openai-responses':
      return new OpenAIResponsesProvider({
        baseUrl: requireBaseUrl(model, config),
        apiKey: config.apiKey,
        headers: config.headers,
        ...upstreamTimeouts(config),
        maxResponseBytes,
        acceptsVerbosity: acceptsVerbosityOf(model, config),
      });
  }
}

/** The model's timeouts, whole call and phase by phase, as every HTTP provider takes them. */
function upstreamTimeouts(config: ModelConfig): UpstreamTimeouts {
  return {
    timeoutMs: config.timeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    firstByteTimeoutMs: config.firstByteTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
  };
}

/** Config validation already requires it; this keeps a hand-built config honest too. */
function requireBaseUrl(model: string, config: ModelConfig): string {
  if (!config.baseUrl) throw new Error(`Model '${model}' has no baseUrl.`);
  return config.baseUrl;
}
