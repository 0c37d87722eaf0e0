-- Less WAL per response (docs/wal.md). An update of a response stays HOT (no new index
-- entries, only the changed bytes logged) unless it changes an indexed column, and every
-- index entry costs WAL whether a query needs it or not.

-- The sweepers' way in to live responses was (status, lease_expires_at): every status change
-- (queued -> in_progress, then the terminal one) was a non-HOT update writing an entry in
-- each of the table's indexes. Live responses are also those not completed yet (the terminal
-- update sets completed_at, and nothing else does), and the only query on the lease of a
-- response looks for the streamed ones whose log a dead writer left open. Both indexes are
-- partial: they hold live responses and leased ones, a small part of the table.
DROP INDEX "responses_status_lease_expires_at_idx";
CREATE INDEX "responses_completed_at_idx" ON "responses"("completed_at") WHERE "completed_at" IS NULL;
CREATE INDEX "responses_lease_expires_at_idx" ON "responses"("lease_expires_at")
  WHERE "lease_expires_at" IS NOT NULL;

-- Most requests carry no Idempotency-Key: only those that do need an entry.
DROP INDEX "responses_owner_id_idempotency_key_key";
CREATE UNIQUE INDEX "responses_owner_id_idempotency_key_key" ON "responses"("owner_id", "idempotency_key")
  WHERE "idempotency_key" IS NOT NULL;
