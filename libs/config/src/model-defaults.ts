import type { ModelConfig } from './ratchet-config';

// What ratchet assumes about well-known models when the config does not say: how much input
// they read at most (for `truncation: "auto"`), and whether an OpenAI-style upstream takes
// `verbosity`. Names are matched on the upstream model name, without a router's `vendor/`
// prefix (`openai/gpt-4o`) and ignoring case; unknown models get no default.

/** Context windows in tokens, by name pattern; the first match wins. */
const CONTEXT_WINDOWS: readonly (readonly [RegExp, number])[] = [
  [/^gpt-4o/, 128_000],
  [/^gpt-4\.1/, 1_047_576],
  // GPT-5 chat snapshots have a smaller window than the reasoning models.
  [/^gpt-5[^-]*-chat/, 128_000],
  // 400k in all, of which at most 272k input: the input is what truncation fits.
  [/^gpt-5/, 272_000],
  [/^o1-(mini|preview)/, 128_000],
  [/^o[1-9](-|$)/, 200_000],
  [/^claude-/, 200_000],
];

function baseName(model: string): string {
  return model.slice(model.lastIndexOf('/') + 1).toLowerCase();
}

/** The known context window of a model name, or null when ratchet knows none. */
export function knownContextWindow(upstreamModel: string): number | null {
  const name = baseName(upstreamModel);
  return CONTEXT_WINDOWS.find(([pattern]) => pattern.test(name))?.[1] ?? null;
}

/** The context window of configured model `name`: the config's, else the known one, else null. */
export function contextWindowOf(
  name: string,
  config: Pick<ModelConfig, 'contextWindow' | 'upstreamModel'>,
): number | null {
  return config.contextWindow ?? knownContextWindow(config.upstreamModel ?? name);
}

/** OpenAI's own model names, whose support of a parameter OpenAI decides model by model. */
const OPENAI_MODEL = /^(gpt-|chatgpt-|o[1-9](-|$))/;

/**
 * Whether an OpenAI-style upstream takes `verbosity`, unless the config says. Among OpenAI's
 * models only the GPT-5 reasoning models do (others refuse a request that sets it, on either
 * API). Other Responses API servers take it: it is part of the Open Responses `text`. Other
 * Chat Completions servers do not know it, and may refuse it.
 */
export function acceptsVerbosityOf(
  name: string,
  config: Pick<ModelConfig, 'acceptsVerbosity' | 'upstreamModel' | 'provider'>,
): boolean {
  if (config.acceptsVerbosity !== undefined) return config.acceptsVerbosity;
  const model = baseName(config.upstreamModel ?? name);
  if (/^gpt-5/.test(model)) return !/-chat/.test(model);
  return config.provider === 'openai-responses' && !OPENAI_MODEL.test(model);
}
