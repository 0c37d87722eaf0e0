import { Injectable } from '@nestjs/common';
import type { Item, McpCallItem } from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import { inputItemOf } from './input-items.sql';
import { outputOf } from './stored-output.sql';
import { Sql, statement } from './sql';

// Stored items by id, for item_reference input items. Items live in three places: the input
// items of responses, the output of stored responses, and conversations. Input and
// conversation items have an index on the item id; a response's output is found through
// `output_keys`, the hashes of its items' ids and its server calls' call_ids, by a GIN index
// over them (migration 20261205060000_output_refs), and the items are then compared by id.
// Resolving the references of a request is one statement of one index probe per table and
// reference, whatever the tables' size.

/**
 * Output items of stored responses holding `key` (text) at `field`, with the response. The
 * output is read as clients see it (outputOf: its references to the steps put back).
 */
const OUTPUT_ITEMS_BY = (field: 'id' | 'call_id', key: string): string =>
  `responses r CROSS JOIN LATERAL jsonb_array_elements(${outputOf('r')}) AS x(item)
    WHERE r.store AND r.output_keys IS NOT NULL
      AND r.output_keys @> ARRAY[hashtextextended(${key}, 0)]
      AND x.item->>'${field}' = ${key}`;

export const STORED_ITEMS_SQL = {
  // $1: the ids; $2: the owner (null for an admin). An id found more than once (a client may
  // send one item again) resolves to the most recent copy.
  byIds: statement(
    'stored-items-by-ids',
    `SELECT ref.id, found.item
       FROM unnest($1::text[]) AS ref(id)
            CROSS JOIN LATERAL (
              SELECT item FROM (
                SELECT ${inputItemOf('i')} AS item, r.created_at AS at
                  FROM input_items i JOIN responses r ON r.id = i.response_id
                 WHERE i.item_id = ref.id AND r.store
                   AND ($2::text IS NULL OR r.owner_id = $2)
                UNION ALL
                SELECT x.item, r.created_at
                  FROM ${OUTPUT_ITEMS_BY('id', 'ref.id')}
                   AND ($2::text IS NULL OR r.owner_id = $2)
                UNION ALL
                SELECT ci.item, ci.created_at
                  FROM conversation_items ci JOIN conversations c ON c.id = ci.conversation_id
                 WHERE ci.item_id = ref.id AND ($2::text IS NULL OR c.owner_id = $2)
              ) candidates
              ORDER BY at DESC LIMIT 1) found`,
  ),
  // $1: call ids; $2: the owner (null for an admin). The stored server call (mcp_call) each
  // call_id names, the most recent when an upstream reused one.
  serverCallsByCallIds: statement(
    'stored-server-calls-by-call-ids',
    `SELECT ref.call_id, found.item
       FROM unnest($1::text[]) AS ref(call_id)
            CROSS JOIN LATERAL (
              SELECT x.item
                FROM ${OUTPUT_ITEMS_BY('call_id', 'ref.call_id')}
                 AND x.item->>'type' = 'mcp_call'
                 AND ($2::text IS NULL OR r.owner_id = $2)
               ORDER BY r.created_at DESC LIMIT 1) found`,
  ),
};

@Injectable()
export class StoredItemsRepository {
  constructor(private readonly sql: Sql) {}

  /** The stored items with these ids that the principal may see, by id. */
  async byIds(ids: readonly string[], principal: Principal): Promise<Map<string, Item>> {
    if (ids.length === 0) return new Map();
    const rows = await this.sql.query<{ id: string; item: Item }>(STORED_ITEMS_SQL.byIds, [
      ids,
      principal.admin ? null : principal.keyId,
    ]);
    return new Map(rows.map((row) => [row.id, row.item]));
  }

  /** The stored server calls with these call ids that the principal may see, by call id. */
  async serverCallsByCallIds(
    callIds: readonly string[],
    principal: Principal,
  ): Promise<Map<string, McpCallItem>> {
    if (callIds.length === 0) return new Map();
    const rows = await this.sql.query<{ call_id: string; item: McpCallItem }>(
      STORED_ITEMS_SQL.serverCallsByCallIds,
      [callIds, principal.admin ? null : principal.keyId],
    );
    return new Map(rows.map((row) => [row.call_id, row.item]));
  }
}
