import { paramOf, RatchetError } from '@ratchet/core';
import { z } from 'zod';

/** GET /v1/responses/{id}/input_items query: OpenAI's list pagination. */
export const inputItemsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: z.string().min(1).nullable().default(null),
  include: z.unknown().optional(),
});
export type InputItemsQuery = Omit<z.infer<typeof inputItemsQuerySchema>, 'include'>;

export function parseInputItemsQuery(query: unknown): InputItemsQuery {
  const result = inputItemsQuerySchema.safeParse(query);
  if (!result.success) {
    const issue = result.error.issues[0];
    const param = paramOf(issue.path);
    throw RatchetError.invalid(
      `Invalid value for '${param}': ${issue.message}.`,
      param,
      'invalid_value',
    );
  }
  const { limit, order, after } = result.data;
  return { limit, order, after };
}
