import { statement } from './sql';

// The statements of ConversationsRepository (and of creating a response in a conversation,
// in ResponsesRepository). A principal sees its own conversations; an admin sees all
// ($2 = null in every statement that takes an owner).

const CONVERSATION_COLUMNS = `id, metadata, created_at`;

/** The conversation with id $1 if the owner $2 may see it. */
const VISIBLE = `SELECT id FROM conversations
      WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)`;

export const CONVERSATIONS_SQL = {
  // The conversation and its first items in one statement ($4: [{position, item_id, item}]).
  create: statement(
    'create-conversation',
    `WITH c AS (
       INSERT INTO conversations (id, owner_id, metadata, next_position)
       VALUES ($1, $2, $3::jsonb, json_array_length($4::json))
       RETURNING ${CONVERSATION_COLUMNS}),
     items AS (
       INSERT INTO conversation_items (conversation_id, position, item_id, item)
       SELECT $1, x.position, x.item_id, x.item
         FROM json_to_recordset($4::json) AS x(position int, item_id text, item jsonb))
     SELECT ${CONVERSATION_COLUMNS} FROM c`,
  ),
  find: statement(
    'find-conversation',
    `SELECT ${CONVERSATION_COLUMNS} FROM conversations
      WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)`,
  ),
  updateMetadata: statement(
    'update-conversation-metadata',
    `UPDATE conversations SET metadata = $3::jsonb
      WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)
     RETURNING ${CONVERSATION_COLUMNS}`,
  ),
  delete: statement(
    'delete-conversation',
    `DELETE FROM conversations WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)`,
  ),
  // Items added through the API, at the conversation's next positions ($3: [{position,
  // item_id, item}], positions from 0). Nothing is added when the conversation holds one of
  // the ids already; `duplicate` names it.
  addItems: statement(
    'add-conversation-items',
    `WITH visible AS (${VISIBLE}),
     duplicate AS (
       SELECT ci.item_id FROM conversation_items ci
        WHERE ci.conversation_id IN (SELECT id FROM visible)
          AND ci.item_id IN (SELECT x.item_id FROM json_to_recordset($3::json) AS x(item_id text))
        LIMIT 1),
     grown AS (
       UPDATE conversations c SET next_position = c.next_position + json_array_length($3::json)
        WHERE c.id IN (SELECT id FROM visible) AND NOT EXISTS (SELECT 1 FROM duplicate)
       RETURNING c.id, c.next_position - json_array_length($3::json) AS base),
     added AS (
       INSERT INTO conversation_items (conversation_id, position, item_id, item)
       SELECT g.id, g.base + x.position, x.item_id, x.item
         FROM grown g CROSS JOIN json_to_recordset($3::json) AS x(position int, item_id text, item jsonb)
       ON CONFLICT (conversation_id, item_id) DO NOTHING
       RETURNING position, item)
     SELECT EXISTS (SELECT 1 FROM visible) AS found,
            (SELECT item_id FROM duplicate) AS duplicate,
            coalesce((SELECT json_agg(item ORDER BY position) FROM added), '[]'::json) AS items`,
  ),
  item: statement(
    'conversation-item',
    `SELECT (SELECT ci.item FROM conversation_items ci
              WHERE ci.conversation_id = v.id AND ci.item_id = $3) AS item
       FROM (${VISIBLE}) v`,
  ),
  deleteItem: statement(
    'delete-conversation-item',
    `WITH visible AS (
       SELECT ${CONVERSATION_COLUMNS} FROM conversations
        WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)),
     deleted AS (
       DELETE FROM conversation_items
        WHERE conversation_id IN (SELECT id FROM visible) AND item_id = $3
       RETURNING 1)
     SELECT v.*, EXISTS (SELECT 1 FROM deleted) AS deleted FROM visible v`,
  ),
  itemPosition: statement(
    'conversation-item-position',
    `SELECT position FROM conversation_items WHERE conversation_id = $1 AND item_id = $2`,
  ),
  itemsAsc: statement(
    'conversation-items-asc',
    `SELECT item FROM conversation_items WHERE conversation_id = $1 AND position > $2
      ORDER BY position ASC LIMIT $3`,
  ),
  itemsDesc: statement(
    'conversation-items-desc',
    `SELECT item FROM conversation_items WHERE conversation_id = $1 AND position < $2
      ORDER BY position DESC LIMIT $3`,
  ),
  // Creating a response in a conversation, in one transaction: `lock` takes the
  // conversation's row; `history` then reads, on a snapshot taken after the lock was
  // granted, the status of the response that last held it and every item. A turn appended
  // by a response's terminal write commits with its terminal status, so a holder seen ended
  // has its turn in the items. `hold` makes the new response the holder.
  lock: statement(
    'lock-conversation',
    `SELECT active_response_id FROM conversations
      WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)
        FOR UPDATE`,
  ),
  history: statement(
    'conversation-history',
    `SELECT (SELECT status::text FROM responses WHERE id = $2) AS holder_status,
            coalesce((SELECT json_agg(item ORDER BY position)
                        FROM conversation_items WHERE conversation_id = $1), '[]'::json) AS items`,
  ),
  hold: statement(
    'hold-conversation',
    `UPDATE conversations SET active_response_id = $2 WHERE id = $1`,
  ),
};
