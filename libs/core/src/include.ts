import { RatchetError } from './errors';
import type { Item } from './items';

// The request's `include`: extra output data a client asks for. Every value OpenAI defines is
// known; a value ratchet cannot honour is refused by name (`include[i]`) with the reason,
// never accepted and silently ignored.

/** The values of OpenAI's `ResponseIncludable`. */
export const INCLUDABLE = [
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
  'reasoning.encrypted_content',
  'message.output_text.logprobs',
] as const;
export type Includable = (typeof INCLUDABLE)[number];

export const ENCRYPTED_REASONING: Includable = 'reasoning.encrypted_content';

/**
 * Why ratchet cannot honour a value whatever the model, or null for values it honours:
 * `message.input_image.image_url` always holds (input images keep their URLs), and
 * `reasoning.encrypted_content` depends on the model (`modelIncludeProblem`).
 */
function servedNowhere(value: Includable): string | null {
  switch (value) {
    case 'file_search_call.results':
      return 'ratchet hosts no file_search tool, so no response has file search results';
    case 'web_search_call.results':
    case 'web_search_call.action.sources':
      return 'ratchet hosts no web_search tool, so no response has web search results or sources';
    case 'computer_call_output.output.image_url':
      return 'ratchet hosts no computer tool, so no response has computer call screenshots';
    case 'code_interpreter_call.outputs':
      return 'ratchet hosts no code_interpreter tool, so no response has code outputs';
    case 'message.output_text.logprobs':
      return 'ratchet does not return token log probabilities from any upstream';
    case 'message.input_image.image_url':
    case 'reasoning.encrypted_content':
      return null;
  }
}

/** Throws for the first include value no model could serve, naming `include[i]`. */
export function refuseUnservedIncludes(include: readonly Includable[] | null | undefined): void {
  (include ?? []).forEach((value, index) => {
    const problem = servedNowhere(value);
    if (problem) {
      throw RatchetError.invalid(
        `'${value}' cannot be included: ${problem}.`,
        `include[${index}]`,
        'unsupported_include',
      );
    }
  });
}

/** The upstream protocols that hand out reasoning a later call can send back. */
const ENCRYPTED_REASONING_PROVIDERS: ReadonlySet<string> = new Set([
  'openai-responses',
  'anthropic',
]);

/**
 * Throws when the request's model cannot serve an include value: encrypted reasoning comes
 * only from upstreams that return it (the Responses API's `encrypted_content`, Anthropic's
 * signed and redacted thinking); Chat Completions and the mock model have none.
 */
export function refuseIncludesForModel(
  include: readonly Includable[] | null | undefined,
  model: { name: string; provider: string },
): void {
  const index = (include ?? []).indexOf(ENCRYPTED_REASONING);
  if (index < 0 || ENCRYPTED_REASONING_PROVIDERS.has(model.provider)) return;
  throw RatchetError.invalid(
    `'${ENCRYPTED_REASONING}' cannot be included with model '${model.name}': its upstream ` +
      `(provider ${model.provider}) returns no encrypted reasoning. Use a model of provider ` +
      `openai-responses or anthropic, or leave the value out.`,
    `include[${index}]`,
    'unsupported_include',
  );
}

/** Whether the request asked for reasoning items' encrypted content. */
export function includesEncryptedReasoning(
  include: readonly Includable[] | null | undefined,
): boolean {
  return include?.includes(ENCRYPTED_REASONING) ?? false;
}

/**
 * An item as a client sees it. Ratchet keeps what an upstream needs to read its reasoning
 * again (`encrypted_content`) on every reasoning item it stores, so its own later calls can
 * send it back; clients see it only when they asked for it, as OpenAI shows it.
 */
export function visibleItem<T extends Item>(
  item: T,
  include: readonly Includable[] | null | undefined,
): T {
  if (item.type !== 'reasoning' || item.encrypted_content == null) return item;
  if (includesEncryptedReasoning(include)) return item;
  const { encrypted_content: _hidden, ...visible } = item;
  return visible as T;
}
