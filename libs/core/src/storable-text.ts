// Text ratchet cannot store. Postgres text and jsonb cannot hold NUL (U+0000), and jsonb
// rejects a lone surrogate (half of a UTF-16 pair, which is no Unicode character at all).
// Whatever a model, a tool or a request says is stored with each of those replaced by
// U+FFFD (the replacement character), so the replacement is visible to whoever reads it and
// the same live and on every replay, instead of a write that fails and is retried forever.

/** What replaces each character the store cannot hold. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/** NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this finds.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether `text` holds a character the store cannot hold. */
export function hasUnstorableText(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  const found = UNSTORABLE.test(text);
  UNSTORABLE.lastIndex = 0;
  return found;
}

/** `text` with NUL and lone surrogates replaced by U+FFFD; the same string when it has none. */
export function storableText(text: string): string {
  if (!hasUnstorableText(text)) return text;
  return text.replace(UNSTORABLE, REPLACEMENT_CHARACTER);
}

/**
 * A JSON-like value with storableText applied to every string in it, object keys included.
 * Returns the value itself (not a copy) when nothing needed replacing, so the common case
 * allocates nothing.
 */
export function storableJson<T>(value: T): T {
  return storableValue(value) as T;
}

function storableValue(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const stored = storableValue(item);
      if (stored !== item) {
        copy ??= value.slice();
        copy[i] = stored;
      }
    }
    return copy ?? value;
  }
  // Dates and other class instances are not text; only plain objects are walked.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  // Keys walked in place rather than through Object.entries, which makes an array per key.
  const record = value as Record<string, unknown>;
  let changed = false;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const item = record[key];
    if (storableText(key) !== key || storableValue(item) !== item) {
      changed = true;
      break;
    }
  }
  if (!changed) return value;
  const copy: Record<string, unknown> = {};
  for (const key in record) {
    if (Object.hasOwn(record, key)) copy[storableText(key)] = storableValue(record[key]);
  }
  return copy;
}
