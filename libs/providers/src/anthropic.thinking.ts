// Anthropic's thinking as a reasoning item's `encrypted_content`. A thinking block goes back
// to the Messages API only whole and unmodified (its `signature` covers its text), and a
// redacted_thinking block is nothing but its encrypted `data`; during a tool round Anthropic
// requires them back. So the whole block is encoded into the item's encrypted_content, which
// clients treat as opaque and return as they got it, and the encoder sends the block back
// byte for byte. It is encoded, not encrypted: its text is the item's reasoning content
// anyway, and Anthropic's signature (or its own encryption of redacted data) refuses a block
// that was changed. The encoding names the upstream model that wrote the block: signatures are
// bound to it, and another model would refuse the request, so such blocks stay behind.

export type ThinkingBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string };

const PREFIX = 'ratchet-anthropic-thinking.v1.';

interface Encoded {
  model: string;
  block: ThinkingBlock;
}

/** The encrypted_content that carries `block`, written by upstream model `model`. */
export function encodeThinking(block: ThinkingBlock, model: string): string {
  const encoded: Encoded = { model, block };
  return PREFIX + Buffer.from(JSON.stringify(encoded), 'utf8').toString('base64url');
}

/** Whether encrypted content is Anthropic thinking that ratchet encoded (whatever its model). */
export function isEncodedThinking(encrypted: string): boolean {
  return encrypted.startsWith(PREFIX);
}

/** The block encoded in `encrypted`, if it was written by `model`; null otherwise. */
export function decodeThinking(encrypted: string, model: string): ThinkingBlock | null {
  if (!isEncodedThinking(encrypted)) return null;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(encrypted.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isEncoded(decoded) || decoded.model !== model) return null;
  // Rebuilt field by field: only what Anthropic takes goes upstream, whatever a client sent.
  const { block } = decoded;
  return block.type === 'thinking'
    ? { type: 'thinking', thinking: block.thinking, signature: block.signature }
    : { type: 'redacted_thinking', data: block.data };
}

function isEncoded(value: unknown): value is Encoded {
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
