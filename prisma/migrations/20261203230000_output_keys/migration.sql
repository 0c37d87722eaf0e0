-- The ids of a stored response's output items were written twice: in `responses.output`,
-- which holds the items, and in output_items, one row per item with three indexes (its key,
-- the item id, a server call's call_id), so that item_reference inputs and server calls sent
-- back could be found. That was about 3.5 KB of WAL per fan-out response (docs/wal.md), and
-- three random-keyed index entries per item. One expression index over `output` answers both
-- lookups instead: the ids of the output's items and the call_ids of its server calls
-- (mcp_call), as one jsonb array, indexed by hash (jsonb_path_ops, for `@>`), for stored
-- responses only. Its entries are written by the terminal update, which writes `output` and
-- is not HOT anyway. fastupdate is off: entries go straight into the index rather than into a
-- pending list that some terminal update would have to merge, or every lookup would scan.
-- StoredItemsRepository writes the same expression (OUTPUT_KEYS) so the planner can use it.
CREATE INDEX "responses_output_keys_idx" ON "responses" USING gin (
  (jsonb_path_query_array("output", '$[*].id')
     || jsonb_path_query_array("output", '$[*] ? (@.type == "mcp_call").call_id')) jsonb_path_ops)
  WITH (fastupdate = off) WHERE "store";

DROP TABLE "output_items";
