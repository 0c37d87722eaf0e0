-- The console lists everyone's responses newest first for the admin key; tenants' lists use
-- responses_owner_id_created_at_idx. created_at never changes, so the index costs one entry
-- per response and keeps updates of a response HOT.
CREATE INDEX "responses_created_at_idx" ON "responses"("created_at");
