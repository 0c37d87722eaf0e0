-- A running step named its worker twice: `lease_owner`, which holds the lease, and
-- `executed_by`, the worker that last claimed it, kept after the lease ends. Every claim set
-- both to the same id, and the lease's end cleared only the first, so `lease_owner` was
-- always NULL or `executed_by`. It is now `leased` (true, or NULL for no lease): the lease's
-- owner is `executed_by` while `leased` is true (leaseOwnerOf in libs/store/src/step-lease.ts).
-- A worker's id is its host name, its pid and six hex digits: 15 to 45 bytes of every step
-- inserted running and every claim, about 100 to 270 bytes of WAL per fan-out response. Rows
-- written before keep the dropped column's bytes until they are next updated.
ALTER TABLE "steps" ADD COLUMN "leased" BOOLEAN;
UPDATE "steps" SET "leased" = true WHERE "lease_owner" IS NOT NULL;
ALTER TABLE "steps" DROP COLUMN "lease_owner";
