/**
 * A Responses API usage object summed over the `usage` column of `source` (a relation with
 * a jsonb `usage` column): every model call of a response tree, sub-agents included.
 */
export function usageSumSql(source: string): string {
  const sum = (path: string): string => `coalesce(sum((${path})::int), 0)`;
  return `(SELECT json_build_object(
      'input_tokens', ${sum(`usage->>'input_tokens'`)},
      'input_tokens_details', json_build_object(
        'cached_tokens', ${sum(`usage->'input_tokens_details'->>'cached_tokens'`)}),
      'output_tokens', ${sum(`usage->>'output_tokens'`)},
      'output_tokens_details', json_build_object(
        'reasoning_tokens', ${sum(`usage->'output_tokens_details'->>'reasoning_tokens'`)}),
      'total_tokens', ${sum(`usage->>'input_tokens'`)} + ${sum(`usage->>'output_tokens'`)})
    FROM ${source})`;
}
