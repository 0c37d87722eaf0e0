import { randomBytes } from 'node:crypto';

/** Prefixes of the ids ratchet hands out, matching OpenAI's conventions. */
export type IdPrefix =
  | 'resp'
  | 'msg'
  | 'fc'
  | 'fco'
  | 'rs'
  | 'call'
  | 'mcp'
  | 'mcpl'
  | 'mcpr'
  | 'cmp'
  | 'step'
  | 'scope'
  | 'key'
  | 'conv';

const ID_BYTES = 24;
/** Random bytes are drawn for 256 ids at a time: one call into the system for many ids. */
const POOL_BYTES = ID_BYTES * 256;
let pool = Buffer.alloc(0);
let offset = 0;

/** A new opaque id: the prefix, an underscore and 48 hex characters (192 random bits). */
export function newId(prefix: IdPrefix): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return `${prefix}_${id}`;
}
