import { z } from 'zod';

// The job catalogue: every job name with the schema of its payload. Workers validate a
// payload when they pick the job up; producers can only enqueue names listed here.

export const QUEUE_NAME = 'ratchet';

export const jobCatalog = {
  /**
   * Decide and record the next steps of a scope (or finish it). `beforeCommit`: queued while
   * the statement creating its response ran, so the response may not be there yet when the
   * job is taken; the worker waits for it a while.
   */
  'scope.advance': z.object({
    responseId: z.string(),
    scopeId: z.string(),
    beforeCommit: z.boolean().optional(),
  }),
  /**
   * Execute one recorded step. `scope`: what a new response's first model call needs of its
   * scope (CarriedScope in libs/store), carried so that the worker makes the call before it
   * writes anything; the job may be taken before the statement creating the response commits.
   */
  'step.run': z.object({
    responseId: z.string(),
    stepId: z.string(),
    scope: z
      .object({
        model: z.string(),
        instructions: z.string().nullable(),
        input: z.array(z.unknown()),
        tools: z.unknown(),
        request: z.unknown(),
        deadlineAt: z.string().nullable(),
      })
      .optional(),
  }),
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]>;

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}

export function parseJob<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return jobCatalog[name].parse(data) as JobPayload<N>;
}
