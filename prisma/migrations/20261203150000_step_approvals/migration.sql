-- Human approvals. A call that needs one is recorded `awaiting_approval` and not run; it keeps
-- its round open, so its scope stops there while the rest of the tree goes on. When nothing
-- else can progress the response ends its turn with the requests; a later response that
-- answers them adopts the paused tree (a copy of its open scopes, `adopted_from` naming each
-- step copied) and carries on from there.
ALTER TYPE "step_status" ADD VALUE 'awaiting_approval';

-- The approval a step asked for: {id, server_label, name, requested_at, expires_at, decision}.
ALTER TABLE "steps" ADD COLUMN "approval" JSONB;
-- The step of an earlier response this one was copied from when a response adopted its tree.
ALTER TABLE "steps" ADD COLUMN "adopted_from" TEXT;

-- Steps of the tree that wait for an approval: kept with each round, read with each outcome.
ALTER TABLE "responses" ADD COLUMN "awaiting_approvals" INTEGER NOT NULL DEFAULT 0;
-- The response that adopted this one's paused tree (answered its approvals), if one did.
ALTER TABLE "responses" ADD COLUMN "adopted_by" TEXT;
-- What a response that adopted a paused tree continues: its context as a follow-up reads it
-- (its top scope's input is the adopted scope's own).
ALTER TABLE "responses" ADD COLUMN "context" JSONB;

-- Ids of the items an adopted top scope showed in earlier responses, left out of this one's.
ALTER TABLE "scopes" ADD COLUMN "shown_items" JSONB NOT NULL DEFAULT '[]';
