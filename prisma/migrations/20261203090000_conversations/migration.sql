-- Conversations (OpenAI's Conversations API), and what resolves an `item_reference` input
-- item: every stored item can be found by its id through one index per table that holds it.

-- The conversation a response reads as its context and appends its turn to when it ends.
-- Not a foreign key: deleting a conversation leaves its responses as they are.
ALTER TABLE "responses" ADD COLUMN "conversation_id" TEXT;

-- CreateTable
CREATE TABLE "conversations" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "next_position" INTEGER NOT NULL DEFAULT 0,
    "active_response_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "conversations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "conversation_items" (
    "conversation_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "item_id" TEXT NOT NULL,
    "item" JSONB NOT NULL,
    "response_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "conversation_items_pkey" PRIMARY KEY ("conversation_id","position")
);

-- The ids of a stored response's output items, by position in its output (the items stay
-- in responses.output): written with the response's terminal state.
CREATE TABLE "output_items" (
    "response_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "item_id" TEXT NOT NULL,

    CONSTRAINT "output_items_pkey" PRIMARY KEY ("response_id","position")
);

-- CreateIndex
CREATE INDEX "conversations_owner_id_created_at_idx" ON "conversations"("owner_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "conversation_items_conversation_id_item_id_key" ON "conversation_items"("conversation_id", "item_id");

-- Item references: one lookup by id in each table that holds items. A migration runs in a
-- transaction, so these are built without CONCURRENTLY: writes to input_items wait while
-- its index is built (seconds per million rows).
CREATE INDEX "conversation_items_item_id_idx" ON "conversation_items"("item_id");
CREATE INDEX "output_items_item_id_idx" ON "output_items"("item_id");
CREATE INDEX "input_items_item_id_idx" ON "input_items"("item_id");

-- AddForeignKey
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "conversation_items" ADD CONSTRAINT "conversation_items_conversation_id_fkey" FOREIGN KEY ("conversation_id") REFERENCES "conversations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "output_items" ADD CONSTRAINT "output_items_response_id_fkey" FOREIGN KEY ("response_id") REFERENCES "responses"("id") ON DELETE CASCADE ON UPDATE CASCADE;
