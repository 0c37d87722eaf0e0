import type { ModelConfig } from './ratchet-config';

// What ratchet assumes about well-known models when the config does not say: whether a Chat
// Completions upstream takes `verbosity`. Names are matched on the upstream model name,
// without a router's `vendor/` prefix (`openai/gpt-4o`) and ignoring case.

function baseName(model: string): string {
  return model.slice(model.lastIndexOf('/') + 1).toLowerCase();
}

/**
 * Whether a Chat Completions upstream takes `verbosity`, unless the config says: OpenAI's
 * GPT-5 reasoning models do; their chat snapshots and other servers' models may refuse it.
 */
export function acceptsVerbosityOf(
  name: string,
  config: Pick<ModelConfig, 'acceptsVerbosity' | 'upstreamModel'>,
): boolean {
  if (config.acceptsVerbosity !== undefined) return config.acceptsVerbosity;
  const model = baseName(config.upstreamModel ?? name);
  return /^gpt-5/.test(model) && !/-chat/.test(model);
}
