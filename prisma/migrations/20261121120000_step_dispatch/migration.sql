-- DropIndex
DROP INDEX "steps_response_id_idx";

-- AlterTable
ALTER TABLE "steps" ADD COLUMN     "dispatched_at" TIMESTAMPTZ(3),
ADD COLUMN     "executed_by" TEXT;

-- CreateIndex
CREATE INDEX "steps_response_id_status_idx" ON "steps"("response_id", "status");
