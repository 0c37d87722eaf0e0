-- A response's output was written twice: in its top scope's steps (the model's items, the
-- tools' outputs) and again, whole, in `responses.output` by the terminal update: about
-- 1.4 KB of a fan-out response's 12 KB of WAL (docs/wal.md). The row now keeps, for each item
-- a step holds as such, a reference to that step (libs/core/src/stored-output.ts), and the
-- statements that read the output put the items back (outputOf in
-- libs/store/src/stored-output.sql.ts). Output stored before this is whole and reads as it is.
--
-- References carry no ids, so the ids a stored response's output is found by (its items'
-- ids, its server calls' call_ids) are kept as their hashes in `output_keys`, written with
-- the output from the items themselves, and indexed instead of an expression of `output`.
-- The lookups compare the items' ids after finding the rows, so two keys of one hash only
-- cost a row read.

/** The hashes of the keys an output is found by: its items' ids and its server calls' call_ids. */
CREATE FUNCTION ratchet_output_keys(output jsonb) RETURNS bigint[]
  LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(DISTINCT hashtextextended(k, 0))
    FROM jsonb_array_elements_text(
           jsonb_path_query_array(output, '$[*].id')
           || jsonb_path_query_array(output, '$[*] ? (@.type == "mcp_call").call_id')) AS k
$$;

ALTER TABLE "responses" ADD COLUMN "output_keys" BIGINT[];
UPDATE "responses" SET "output_keys" = ratchet_output_keys("output")
 WHERE "store" AND "output" IS NOT NULL AND "output" <> '[]'::jsonb;

DROP INDEX "responses_output_keys_idx";
-- Only rows with keys: GIN gives a row without any an entry of its own, shared by all such
-- rows, that every insert would rewrite (20261205040000_output_keys_nonempty).
CREATE INDEX "responses_output_keys_idx" ON "responses" USING gin ("output_keys")
  WITH (fastupdate = off) WHERE "output_keys" IS NOT NULL;
