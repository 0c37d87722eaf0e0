-- CreateEnum
CREATE TYPE "response_status" AS ENUM ('queued', 'in_progress', 'completed', 'failed', 'cancelled', 'incomplete');

-- CreateEnum
CREATE TYPE "step_kind" AS ENUM ('model_call', 'tool_call', 'agent_call');

-- CreateEnum
CREATE TYPE "step_status" AS ENUM ('pending', 'running', 'completed', 'failed', 'cancelled');

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "responses" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "status" "response_status" NOT NULL DEFAULT 'queued',
    "model" TEXT NOT NULL,
    "request" JSONB NOT NULL,
    "previous_response_id" TEXT,
    "background" BOOLEAN NOT NULL DEFAULT false,
    "stream" BOOLEAN NOT NULL DEFAULT false,
    "store" BOOLEAN NOT NULL DEFAULT true,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "output" JSONB,
    "error" JSONB,
    "incomplete_details" JSONB,
    "usage" JSONB,
    "next_sequence" INTEGER NOT NULL DEFAULT 0,
    "steps_started" INTEGER NOT NULL DEFAULT 0,
    "idempotency_key" TEXT,
    "request_hash" TEXT,
    "cancel_requested_at" TIMESTAMPTZ(3),
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "deadline_at" TIMESTAMPTZ(3),

    CONSTRAINT "responses_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "input_items" (
    "response_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "item_id" TEXT NOT NULL,
    "item" JSONB NOT NULL,

    CONSTRAINT "input_items_pkey" PRIMARY KEY ("response_id","position")
);

-- CreateTable
CREATE TABLE "scopes" (
    "id" TEXT NOT NULL,
    "response_id" TEXT NOT NULL,
    "parent_step_id" TEXT,
    "depth" INTEGER NOT NULL,
    "model" TEXT NOT NULL,
    "instructions" TEXT,
    "input" JSONB NOT NULL,
    "tools" JSONB NOT NULL DEFAULT '[]',
    "iterations" INTEGER NOT NULL DEFAULT 0,
    "status" "step_status" NOT NULL DEFAULT 'pending',
    "output" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "scopes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "steps" (
    "id" TEXT NOT NULL,
    "response_id" TEXT NOT NULL,
    "scope_id" TEXT NOT NULL,
    "round" INTEGER NOT NULL,
    "index" INTEGER NOT NULL,
    "kind" "step_kind" NOT NULL,
    "status" "step_status" NOT NULL DEFAULT 'pending',
    "prev_step_id" TEXT,
    "call_id" TEXT,
    "name" TEXT,
    "arguments" TEXT,
    "result" JSONB,
    "error" JSONB,
    "usage" JSONB,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "steps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "events" (
    "response_id" TEXT NOT NULL,
    "sequence" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "events_pkey" PRIMARY KEY ("response_id","sequence")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

-- CreateIndex
CREATE INDEX "responses_owner_id_created_at_idx" ON "responses"("owner_id", "created_at");

-- CreateIndex
CREATE INDEX "responses_status_lease_expires_at_idx" ON "responses"("status", "lease_expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "responses_owner_id_idempotency_key_key" ON "responses"("owner_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "scopes_parent_step_id_key" ON "scopes"("parent_step_id");

-- CreateIndex
CREATE INDEX "scopes_response_id_idx" ON "scopes"("response_id");

-- CreateIndex
CREATE INDEX "steps_response_id_idx" ON "steps"("response_id");

-- CreateIndex
CREATE INDEX "steps_status_lease_expires_at_idx" ON "steps"("status", "lease_expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "steps_scope_id_round_index_key" ON "steps"("scope_id", "round", "index");

-- AddForeignKey
ALTER TABLE "responses" ADD CONSTRAINT "responses_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "input_items" ADD CONSTRAINT "input_items_response_id_fkey" FOREIGN KEY ("response_id") REFERENCES "responses"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "scopes" ADD CONSTRAINT "scopes_response_id_fkey" FOREIGN KEY ("response_id") REFERENCES "responses"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "steps" ADD CONSTRAINT "steps_response_id_fkey" FOREIGN KEY ("response_id") REFERENCES "responses"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "steps" ADD CONSTRAINT "steps_scope_id_fkey" FOREIGN KEY ("scope_id") REFERENCES "scopes"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "events" ADD CONSTRAINT "events_response_id_fkey" FOREIGN KEY ("response_id") REFERENCES "responses"("id") ON DELETE CASCADE ON UPDATE CASCADE;
