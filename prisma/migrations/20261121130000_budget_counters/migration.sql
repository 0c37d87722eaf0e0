-- AlterTable
ALTER TABLE "responses" DROP COLUMN "steps_started",
ADD COLUMN     "step_count" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "tool_call_count" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "scopes" DROP COLUMN "iterations",
ADD COLUMN     "open_steps" INTEGER NOT NULL DEFAULT 0;
