import { createHash, randomBytes } from 'node:crypto';

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
  | 'scope'
  | 'key'
  | 'conv';

/** Random bytes of an id: 24 (192 bits). */
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

/**
 * A step's id: `step_` and 24 hex digits (96 bits) of a hash of what identifies the step, its
 * scope, round and index. Recording the same decision twice gives the same ids, so the
 * primary key refuses the second recording, and no other index has to (docs/wal.md). The
 * scope's id carries its response's 192 random bits, so step ids are as unguessable as
 * random ones. Two different steps whose ids collide are refused, not taken for one
 * another (StepsRepository); with 96 bits that is about one chance in 10^11 among a billion
 * steps. The row holds the id twice (its own, the next step's `prev_step_id`), and a
 * sub-agent's scope id is made from it: its length is a good part of the WAL a step writes.
 */
export function stepId(scopeId: string, round: number, index: number): string {
  const digest = createHash('sha256').update(`${scopeId}:${round}:${index}`).digest('hex');
  return `step_${digest.slice(0, 24)}`;
}
