-- responses_output_keys_idx held every stored response from its insert, when its output is
-- still empty. GIN gives a row without keys an entry of its own, the "empty item", whose
-- posting list holds every such row: each response's insert (and each new version of it
-- before it ends) rewrote that list whole, about 1 KB of WAL per fan-out response under 50
-- in flight (docs/wal.md), for rows no lookup can find. The index now holds only responses
-- whose output has items; StoredItemsRepository states the same condition so the planner can
-- use it.
DROP INDEX "responses_output_keys_idx";
CREATE INDEX "responses_output_keys_idx" ON "responses" USING gin (
  (jsonb_path_query_array("output", '$[*].id')
     || jsonb_path_query_array("output", '$[*] ? (@.type == "mcp_call").call_id')) jsonb_path_ops)
  WITH (fastupdate = off) WHERE "store" AND "output" <> '[]'::jsonb;
