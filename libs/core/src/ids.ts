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

/**
 * Random bytes of an id: 12 (96 bits; the prefix and 24 hex digits), plenty to be unique and
 * unguessable. The ids of responses and of the items and calls ratchet names (its input
 * items, and the output of upstreams that name none, such as Chat Completions and the mock)
 * are written many times each: a response's in every step, scope and input item row and
 * their indexes, an item's in the steps that hold it and a call's in its tool step, about
 * 1 KB of WAL per fan-out response at 48 hex digits (docs/wal.md). Ids handed out before keep
 * their length; nothing reads an id's length.
 */
const ID_BYTES = 12;
/** API keys and conversations keep 24 random bytes (192 bits): few, and written seldom. */
const BYTES_OF: Partial<Record<IdPrefix, number>> = { key: 24, conv: 24, scope: 24 };
/** Random bytes are drawn for 512 ids at a time: one call into the system for many. */
const POOL_BYTES = ID_BYTES * 512;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A new opaque id: the prefix, an underscore and 24 hex characters (96 random bits); 48 (192
 * bits) for an API key's, a conversation's and a scope's.
 */
export function newId(prefix: IdPrefix): string {
  const bytes = BYTES_OF[prefix] ?? ID_BYTES;
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return `${prefix}_${id}`;
}

/**
 * A step's id: `step_` and 24 hex digits (96 bits) of a hash of what identifies the step, its
 * scope, round and index. Recording the same decision twice gives the same ids, so the
 * primary key, (response, id), refuses the second recording, and no other index has to
 * (docs/wal.md). The scope's id carries its response's 96 random bits, so step ids are as
 * unguessable as random ones. A step is always found by its response and its id; two steps of
 * one response whose ids collide are refused, not taken for one another (StepsRepository);
 * with 96 bits that is less than one chance in 10^22 for a response of a thousand steps. A
 * sub-agent's scope id is made from it, and its length is a good part of the WAL a step writes.
 */
export function stepId(scopeId: string, round: number, index: number): string {
  const digest = createHash('sha256').update(`${scopeId}:${round}:${index}`).digest('hex');
  return `step_${digest.slice(0, 24)}`;
}
