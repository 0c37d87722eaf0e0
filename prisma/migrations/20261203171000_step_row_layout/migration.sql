-- A step's row is written once and updated a few times (claimed, finished; a backoff or an
-- approval now and then). A HOT update logs only the bytes between the longest unchanged
-- prefix and suffix of the row, so the columns those updates change move to the end, after
-- the ones that never change (ids, round, index, kind, the call): each update then logs the
-- changed tail instead of most of the row. Postgres cannot reorder columns; each moved
-- column is added anew at the end, filled from the old one, which is then dropped (a
-- dropped column takes no space in rows, only a bit of their null bitmap). The order at the
-- end puts what a claim changes first and what a finish writes last.
ALTER TABLE "steps" RENAME COLUMN "status" TO "status_moved";
ALTER TABLE "steps" RENAME COLUMN "attempt" TO "attempt_moved";
ALTER TABLE "steps" RENAME COLUMN "lease_owner" TO "lease_owner_moved";
ALTER TABLE "steps" RENAME COLUMN "executed_by" TO "executed_by_moved";
ALTER TABLE "steps" RENAME COLUMN "lease_expires_at" TO "lease_expires_at_moved";
ALTER TABLE "steps" RENAME COLUMN "started_at" TO "started_at_moved";
ALTER TABLE "steps" RENAME COLUMN "dispatched_at" TO "dispatched_at_moved";
ALTER TABLE "steps" RENAME COLUMN "completed_at" TO "completed_at_moved";
ALTER TABLE "steps" RENAME COLUMN "result" TO "result_moved";
ALTER TABLE "steps" RENAME COLUMN "error" TO "error_moved";
ALTER TABLE "steps" RENAME COLUMN "usage" TO "usage_moved";
ALTER TABLE "steps" RENAME COLUMN "backoff" TO "backoff_moved";
ALTER TABLE "steps" RENAME COLUMN "approval" TO "approval_moved";

ALTER TABLE "steps"
  ADD COLUMN "status" "step_status" NOT NULL DEFAULT 'pending',
  ADD COLUMN "attempt" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "lease_owner" TEXT,
  ADD COLUMN "executed_by" TEXT,
  ADD COLUMN "lease_expires_at" TIMESTAMPTZ(3),
  ADD COLUMN "started_at" TIMESTAMPTZ(6),
  ADD COLUMN "dispatched_at" TIMESTAMPTZ(3),
  ADD COLUMN "completed_at" TIMESTAMPTZ(6),
  ADD COLUMN "result" JSONB,
  ADD COLUMN "error" JSONB,
  ADD COLUMN "usage" JSONB,
  ADD COLUMN "backoff" JSONB,
  ADD COLUMN "approval" JSONB;

UPDATE "steps"
   SET "status" = "status_moved", "attempt" = "attempt_moved",
       "lease_owner" = "lease_owner_moved", "executed_by" = "executed_by_moved",
       "lease_expires_at" = "lease_expires_at_moved", "started_at" = "started_at_moved",
       "dispatched_at" = "dispatched_at_moved", "completed_at" = "completed_at_moved",
       "result" = "result_moved", "error" = "error_moved", "usage" = "usage_moved",
       "backoff" = "backoff_moved", "approval" = "approval_moved";

ALTER TABLE "steps"
  DROP COLUMN "status_moved",
  DROP COLUMN "attempt_moved",
  DROP COLUMN "lease_owner_moved",
  DROP COLUMN "executed_by_moved",
  DROP COLUMN "lease_expires_at_moved",
  DROP COLUMN "started_at_moved",
  DROP COLUMN "dispatched_at_moved",
  DROP COLUMN "completed_at_moved",
  DROP COLUMN "result_moved",
  DROP COLUMN "error_moved",
  DROP COLUMN "usage_moved",
  DROP COLUMN "backoff_moved",
  DROP COLUMN "approval_moved";
