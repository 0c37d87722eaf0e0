-- Operator controls. Every admin action (requeue, cancel, drain, purge; dry runs too) leaves a
-- row in admin_audit: who asked (the key's id and name, copied, so the trail outlives the key),
-- what with which parameters, and what it touched. Newest first by id.
CREATE TABLE "admin_audit" (
    "id" BIGSERIAL NOT NULL,
    "actor_key_id" TEXT NOT NULL,
    "actor_name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "dry_run" BOOLEAN NOT NULL DEFAULT false,
    "affected_count" INTEGER NOT NULL,
    "affected_ids" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "admin_audit_pkey" PRIMARY KEY ("id")
);

-- What recovery did, for the operations view: each sweep (found something or not), each
-- takeover of dead workers' steps, each requeue an operator asked for. Rows older than a day
-- are deleted as new ones are written, so the table stays a few thousand rows.
CREATE TABLE "recovery_runs" (
    "id" BIGSERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "worker_id" TEXT,
    "steps" INTEGER NOT NULL,
    "scopes" INTEGER NOT NULL,
    "ran_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recovery_runs_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "recovery_runs_ran_at_idx" ON "recovery_runs"("ran_at");

-- Draining a worker: an operator sets drain_requested_at; the worker, on seeing it, stops taking
-- jobs (drain_started_at), lets its running jobs finish, then says so (drained_at).
ALTER TABLE "workers" ADD COLUMN "drain_requested_at" TIMESTAMPTZ(3),
    ADD COLUMN "drain_started_at" TIMESTAMPTZ(3),
    ADD COLUMN "drained_at" TIMESTAMPTZ(3);
