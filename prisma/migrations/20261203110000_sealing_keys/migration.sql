-- The key that seals what ratchet hands to clients sealed (compaction summaries) when no
-- RATCHET_SECRET_KEY is set: made at random on first use (INSERT ... ON CONFLICT DO NOTHING,
-- so processes starting together agree on one) and kept, so sealed values open in every
-- process and after every restart.
CREATE TABLE "sealing_keys" (
    "id" TEXT NOT NULL,
    "key" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sealing_keys_pkey" PRIMARY KEY ("id")
);
