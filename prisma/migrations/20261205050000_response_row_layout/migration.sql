-- A response's row is written once and updated a few times before it ends (in progress, its
-- counters per round, a lease, a cancel), then once more by its end. A HOT update logs only
-- the bytes between the row's longest unchanged prefix and suffix, and so does an update that
-- stays on its page; `status` was the third column and `output` the eleventh, so each of
-- those updates logged most of the row: the request, the metadata, the ids. As steps' rows
-- do (20261203171000_step_row_layout), the columns these updates change move to the end,
-- after the ones that never change: a round's update logs its status and counters, the end
-- its own columns and the output. Postgres cannot reorder columns; each moved column is added
-- anew at the end, filled from the old one, which is then dropped. That rewrites every row
-- once. The indexes over moved columns are made again.

-- The indexes over moved columns, dropped first so that the copy below need not keep them.
DROP INDEX "responses_completed_at_idx";
DROP INDEX "responses_lease_expires_at_idx";
DROP INDEX "responses_output_keys_idx";

ALTER TABLE "responses" RENAME COLUMN "status" TO "status_moved";
ALTER TABLE "responses" RENAME COLUMN "started_at" TO "started_at_moved";
ALTER TABLE "responses" RENAME COLUMN "step_count" TO "step_count_moved";
ALTER TABLE "responses" RENAME COLUMN "tool_call_count" TO "tool_call_count_moved";
ALTER TABLE "responses" RENAME COLUMN "awaiting_approvals" TO "awaiting_approvals_moved";
ALTER TABLE "responses" RENAME COLUMN "next_sequence" TO "next_sequence_moved";
ALTER TABLE "responses" RENAME COLUMN "events_closed" TO "events_closed_moved";
ALTER TABLE "responses" RENAME COLUMN "cancel_requested_at" TO "cancel_requested_at_moved";
ALTER TABLE "responses" RENAME COLUMN "lease_owner" TO "lease_owner_moved";
ALTER TABLE "responses" RENAME COLUMN "lease_expires_at" TO "lease_expires_at_moved";
ALTER TABLE "responses" RENAME COLUMN "completed_at" TO "completed_at_moved";
ALTER TABLE "responses" RENAME COLUMN "input_tokens" TO "input_tokens_moved";
ALTER TABLE "responses" RENAME COLUMN "cached_tokens" TO "cached_tokens_moved";
ALTER TABLE "responses" RENAME COLUMN "output_tokens" TO "output_tokens_moved";
ALTER TABLE "responses" RENAME COLUMN "reasoning_tokens" TO "reasoning_tokens_moved";
ALTER TABLE "responses" RENAME COLUMN "total_tokens" TO "total_tokens_moved";
ALTER TABLE "responses" RENAME COLUMN "error" TO "error_moved";
ALTER TABLE "responses" RENAME COLUMN "incomplete_details" TO "incomplete_details_moved";
ALTER TABLE "responses" RENAME COLUMN "output" TO "output_moved";

ALTER TABLE "responses"
  ADD COLUMN "status" "response_status" NOT NULL DEFAULT 'queued',
  ADD COLUMN "started_at" TIMESTAMPTZ(3),
  ADD COLUMN "step_count" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "tool_call_count" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "awaiting_approvals" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "next_sequence" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "events_closed" BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN "cancel_requested_at" TIMESTAMPTZ(3),
  ADD COLUMN "lease_owner" TEXT,
  ADD COLUMN "lease_expires_at" TIMESTAMPTZ(3),
  ADD COLUMN "completed_at" TIMESTAMPTZ(3),
  ADD COLUMN "input_tokens" INTEGER,
  ADD COLUMN "cached_tokens" INTEGER,
  ADD COLUMN "output_tokens" INTEGER,
  ADD COLUMN "reasoning_tokens" INTEGER,
  ADD COLUMN "total_tokens" INTEGER,
  ADD COLUMN "error" JSONB,
  ADD COLUMN "incomplete_details" JSONB,
  ADD COLUMN "output" JSONB;

UPDATE "responses"
   SET "status" = "status_moved",
       "started_at" = "started_at_moved",
       "step_count" = "step_count_moved",
       "tool_call_count" = "tool_call_count_moved",
       "awaiting_approvals" = "awaiting_approvals_moved",
       "next_sequence" = "next_sequence_moved",
       "events_closed" = "events_closed_moved",
       "cancel_requested_at" = "cancel_requested_at_moved",
       "lease_owner" = "lease_owner_moved",
       "lease_expires_at" = "lease_expires_at_moved",
       "completed_at" = "completed_at_moved",
       "input_tokens" = "input_tokens_moved",
       "cached_tokens" = "cached_tokens_moved",
       "output_tokens" = "output_tokens_moved",
       "reasoning_tokens" = "reasoning_tokens_moved",
       "total_tokens" = "total_tokens_moved",
       "error" = "error_moved",
       "incomplete_details" = "incomplete_details_moved",
       "output" = "output_moved";

ALTER TABLE "responses"
  DROP COLUMN "status_moved",
  DROP COLUMN "started_at_moved",
  DROP COLUMN "step_count_moved",
  DROP COLUMN "tool_call_count_moved",
  DROP COLUMN "awaiting_approvals_moved",
  DROP COLUMN "next_sequence_moved",
  DROP COLUMN "events_closed_moved",
  DROP COLUMN "cancel_requested_at_moved",
  DROP COLUMN "lease_owner_moved",
  DROP COLUMN "lease_expires_at_moved",
  DROP COLUMN "completed_at_moved",
  DROP COLUMN "input_tokens_moved",
  DROP COLUMN "cached_tokens_moved",
  DROP COLUMN "output_tokens_moved",
  DROP COLUMN "reasoning_tokens_moved",
  DROP COLUMN "total_tokens_moved",
  DROP COLUMN "error_moved",
  DROP COLUMN "incomplete_details_moved",
  DROP COLUMN "output_moved";

-- As 20261203170000_wal_per_response, 20261203230000_output_keys and
-- 20261205040000_output_keys_nonempty made them.
CREATE INDEX "responses_completed_at_idx" ON "responses" ("completed_at") WHERE "completed_at" IS NULL;
CREATE INDEX "responses_lease_expires_at_idx" ON "responses" ("lease_expires_at")
  WHERE "lease_expires_at" IS NOT NULL;
CREATE INDEX "responses_output_keys_idx" ON "responses" USING gin (
  (jsonb_path_query_array("output", '$[*].id')
     || jsonb_path_query_array("output", '$[*] ? (@.type == "mcp_call").call_id')) jsonb_path_ops)
  WITH (fastupdate = off) WHERE "store" AND "output" <> '[]'::jsonb;
