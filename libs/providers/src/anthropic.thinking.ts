// Anthropic's thinking as a reasoning item's `encrypted_content`. A thinking block goes back
// to the Messages API only whole and unmodified (its `signature` covers its text), and a
// redacted_thinking block is nothing but its encrypted `data`; during a tool round Anthropic
// requires them back. So the whole block is sealed into the item's encrypted_content, which
// clients treat as opaque and return as they got it, and the encoder sends the block back
// byte for byte. The seal names the upstream model that wrote the block: signatures are bound
// to it, and another model would refuse the request, so such blocks stay behind.

export type ThinkingBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

const PREFIX = 'ratchet-anthropic-thinking.v1.';

interface Sealed {
  model: string;
  block: ThinkingBlock;
}

/** The encrypted_content that carries `block`, written by upstream model `model`. */
export function sealThinking(block: ThinkingBlock, model: string): string {
  const sealed: Sealed = { model, block };
  return PREFIX + Buffer.from(JSON.stringify(sealed), 'utf8').toString('base64url');
}

/** Whether encrypted content is Anthropic thinking that ratchet sealed (whatever its model). */
export function isSealedThinking(encrypted: string): boolean {
  return encrypted.startsWith(PREFIX);
}

/** The block sealed in `encrypted`, if it was sealed for `model`; null otherwise. */
export function openThinking(encrypted: string, model: string): ThinkingBlock | null {
  if (!isSealedThinking(encrypted)) return null;
  let sealed: unknown;
  try {
    sealed = JSON.parse(Buffer.from(encrypted.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isSealed(sealed) || sealed.model !== model) return null;
  // Rebuilt field by field: only what Anthropic takes goes upstream, whatever a client sent.
  const { block } = sealed;
  return block.type === 'thinking'
    ? { type: 'thinking', thinking: block.thinking, signature: block.signature }
    : { type: 'redacted_thinking', data: block.data };
}

function isSealed(value: unknown): value is Sealed {
  if (typeof value !== 'object' || value === null) return false;
  const { model, block } = value as Record<string, unknown>;
  if (typeof model !== 'string' || typeof block !== 'object' || block === null) return false;
  const fields = block as Record<string, unknown>;
  switch (fields.type) {
    case 'thinking':
      return typeof fields.thinking === 'string' && typeof fields.signature === 'string';
    case 'redacted_thinking':
      return typeof fields.data === 'string';
    default:
      return false;
  }
}
