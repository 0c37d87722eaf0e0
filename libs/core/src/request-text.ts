// Request text that Postgres cannot store: NUL (U+0000) is refused in text and jsonb, and a
// lone UTF-16 surrogate (which JSON's "\ud800" escape can carry) in jsonb. Requests are not
// refused for it: where a request is parsed, each such character becomes U+FFFD, the
// replacement character, in string values and object keys alike: the rule of storable-text.ts,
// applied in place and without recursion to a body of any depth.

import { storableText } from './storable-text';

/** `text` with NUL characters and lone surrogates replaced by U+FFFD (see storable-text). */
export const storableRequestText = storableText;

/**
 * A parsed JSON request with `storableRequestText` applied to every string and key. It
 * changes `value` in place (a freshly parsed body belongs to the caller) and walks it without
 * recursion, so no nesting can overflow the stack. Key order is kept.
 */
export function withStorableRequestText(value: unknown): unknown {
  if (typeof value === 'string') return storableRequestText(value);
  const pending: unknown[] = [value];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    if (current === null || typeof current !== 'object') continue;
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const item: unknown = current[i];
        if (typeof item === 'string') current[i] = storableRequestText(item);
        else if (item !== null && typeof item === 'object') pending.push(item);
      }
      continue;
    }
    const record = current as Record<string, unknown>;
    const keys = Object.keys(record);
    const keysChange = keys.some((key) => storableRequestText(key) !== key);
    const entries = keys.map((key): [string, unknown] => [key, record[key]]);
    if (keysChange) for (const key of keys) delete record[key];
    for (const [key, item] of entries) {
      const storable = typeof item === 'string' ? storableRequestText(item) : item;
      if (keysChange || storable !== item) {
        // defineProperty, so that a `__proto__` key stays a plain key.
        Object.defineProperty(record, storableRequestText(key), {
          value: storable,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      if (item !== null && typeof item === 'object') pending.push(item);
    }
  }
  return value;
}
