import { randomBytes } from 'node:crypto';

/** Prefixes of the ids ratchet hands out, matching OpenAI's conventions. */
export type IdPrefix = 'resp' | 'msg' | 'fc' | 'fco' | 'rs' | 'call' | 'step' | 'scope' | 'key';

/** A new opaque id: the prefix, an underscore and 48 hex characters (192 random bits). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}
