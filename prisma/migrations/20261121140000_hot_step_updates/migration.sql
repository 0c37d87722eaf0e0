-- Steps change state several times; with no index on the columns those updates touch, and
-- room left on each page, Postgres updates them in place (HOT) without new index entries.

-- DropIndex
DROP INDEX "steps_response_id_status_idx";

-- DropIndex
DROP INDEX "steps_status_lease_expires_at_idx";

-- CreateIndex
CREATE INDEX "steps_response_id_idx" ON "steps"("response_id");

-- Leave room on each page for in-place (HOT) updates.
ALTER TABLE "steps" SET (fillfactor = 70);
ALTER TABLE "scopes" SET (fillfactor = 70);
ALTER TABLE "responses" SET (fillfactor = 70);
