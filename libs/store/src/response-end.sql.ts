import { inputItemOf } from './input-items.sql';

// What a response's terminal write does besides setting its state. It runs in the same
// statement as the conditional update that ends the response, so it happens exactly when
// that update does: once, however many workers race to end the response, and never for a
// response that does not end.

/** Columns the terminal update returns for the CTEs below, besides recordColumns(). */
export const ENDED_COLUMNS = `r.conversation_id`;

/**
 * CTEs over `ended`, a CTE of the responses that just ended (columns id, status as text,
 * output, conversation_id): `turn`, `grown` and `appended` append a completed or incomplete
 * response's turn (its input items in order, then its output) to its conversation at the
 * conversation's next positions. An id the conversation already holds is skipped; a
 * conversation deleted meanwhile matches nothing, and the response ends all the same. A failed
 * or cancelled response appends nothing, so the client can send the same turn again. `ended`'s
 * output is the whole output, not the stored form. (The output's item ids need no writing of
 * their own: `output_keys` finds them, see StoredItemsRepository.)
 */
export function afterEndCtes(ended: string): string {
  return `turn AS (
       SELECT e.id AS response_id, e.conversation_id, t.item,
              row_number() OVER (PARTITION BY e.id ORDER BY t.part, t.position) AS n
         FROM ${ended} e
              CROSS JOIN LATERAL (
                SELECT 0 AS part, i.position::bigint AS position, ${inputItemOf('i')} AS item
                  FROM input_items i WHERE i.response_id = e.id
                UNION ALL
                SELECT 1, x.n, x.item
                  FROM jsonb_array_elements(coalesce(e.output, '[]'::jsonb))
                       WITH ORDINALITY AS x(item, n)) t
        WHERE e.conversation_id IS NOT NULL AND e.status IN ('completed', 'incomplete')
          AND t.item->>'id' IS NOT NULL),
     grown AS (
       UPDATE conversations c SET next_position = c.next_position + t.count
         FROM (SELECT response_id, conversation_id, count(*)::int AS count
                 FROM turn GROUP BY response_id, conversation_id) t
        WHERE c.id = t.conversation_id
       RETURNING c.id, t.response_id, c.next_position - t.count AS base),
     appended AS (
       INSERT INTO conversation_items (conversation_id, position, item_id, item, response_id)
       SELECT g.id, g.base + t.n - 1, t.item->>'id', t.item, t.response_id
         FROM grown g JOIN turn t ON t.response_id = g.response_id
       ON CONFLICT (conversation_id, item_id) DO NOTHING)`;
}
