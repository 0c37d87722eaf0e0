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

/** Random bytes of an id: 24 (192 bits) by default. */
const ID_BYTES = 24;
/**
 * A step's id has 12 (96 bits: even odds of a collision only after 2^48 steps). Its row holds
 * it twice (its own id, the next step's `prev_step_id`), the steps' primary key holds it, and
 * a sub-agent's scope id is made from it: its length is a good part of the WAL a step writes
 * (docs/wal.md).
 */
const SHORT_ID_BYTES: Partial<Record<IdPrefix, number>> = { step: 12 };
/** Random bytes are drawn for 256 ids at a time: one call into the system for many ids. */
const POOL_BYTES = ID_BYTES * 256;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A new opaque id: the prefix, an underscore and hex characters, 48 of them (192 random bits),
 * or 24 for a step.
 */
export function newId(prefix: IdPrefix): string {
  const bytes = SHORT_ID_BYTES[prefix] ?? ID_BYTES;
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return `${prefix}_${id}`;
}
