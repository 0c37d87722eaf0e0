// Usage is stored as integer columns, not as the Responses API's usage object: a step's and a
// response's token counts (input_tokens, cached_tokens, output_tokens, reasoning_tokens,
// total_tokens, all null for a row without usage) and, on steps, usage_estimated (true when
// the call was cut short and its tokens estimated). As jsonb the object took 222 bytes of
// every model step and response, keys and nesting included, and every update that wrote it
// logged them (docs/wal.md); as columns it takes 20. The object is made on read (usageJson),
// and sums are sums of columns.

/** The token columns, in the order usageValues gives them. */
const TOKEN_COLUMNS = [
  'input_tokens',
  'cached_tokens',
  'output_tokens',
  'reasoning_tokens',
  'total_tokens',
] as const;

/** Where each column's value is in a usage object (a path for `#>>`). */
const PATHS: Record<(typeof TOKEN_COLUMNS)[number], string> = {
  input_tokens: '{input_tokens}',
  cached_tokens: '{input_tokens_details,cached_tokens}',
  output_tokens: '{output_tokens}',
  reasoning_tokens: '{output_tokens_details,reasoning_tokens}',
  total_tokens: '{total_tokens}',
};

/** Column `column`'s value in the usage object `json` (jsonb, may be null). */
const tokensIn = (json: string, column: (typeof TOKEN_COLUMNS)[number]): string =>
  `(${json} #>> '${PATHS[column]}')::int`;

/** The token columns of a usage object `json` (jsonb, may be null), as a select list. */
export function usageValues(json: string): string {
  return TOKEN_COLUMNS.map((c) => `${tokensIn(json, c)} AS ${c}`).join(', ');
}

/**
 * Assignments of an UPDATE that store the usage object `json` (jsonb, may be null); with
 * `estimated`, the step's usage_estimated flag too (true or null).
 */
export function setUsage(json: string, options: { estimated: boolean }): string {
  const tokens = TOKEN_COLUMNS.map((c) => `${c} = ${tokensIn(json, c)}`);
  if (options.estimated) {
    tokens.push(`usage_estimated = CASE WHEN (${json} ->> 'estimated')::boolean THEN true END`);
  }
  return tokens.join(', ');
}

/** The token columns of `alias`, as a select list (for a relation that usageSumSql sums). */
export function usageColumnsOf(alias: string): string {
  return TOKEN_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

/**
 * The usage object of row `alias`, or null when it has none; with `estimated` (steps), the
 * object says `estimated: true` where the row's usage_estimated does.
 */
export function usageJson(alias: string, options: { estimated: boolean }): string {
  const object = `jsonb_build_object(
      'input_tokens', ${alias}.input_tokens,
      'input_tokens_details', jsonb_build_object('cached_tokens', ${alias}.cached_tokens),
      'output_tokens', ${alias}.output_tokens,
      'output_tokens_details', jsonb_build_object('reasoning_tokens', ${alias}.reasoning_tokens),
      'total_tokens', ${alias}.total_tokens)`;
  const flagged = options.estimated
    ? `CASE WHEN ${alias}.usage_estimated THEN jsonb_set(${object}, '{estimated}', 'true') ELSE ${object} END`
    : object;
  return `CASE WHEN ${alias}.input_tokens IS NULL THEN NULL ELSE ${flagged} END`;
}

/**
 * The assignment of an UPDATE of responses that stores the usage summed over the token
 * columns of `source` (a relation with them, such as `steps WHERE ...`): every model call of
 * a response tree, sub-agents included. Its total is input plus output, as the API defines it.
 */
export function setUsageSum(source: string): string {
  const sum = (column: string): string => `coalesce(sum(${column}), 0)::int`;
  const summed = TOKEN_COLUMNS.filter((c) => c !== 'total_tokens').map(sum);
  return `(${TOKEN_COLUMNS.join(', ')}) = (SELECT ${summed.join(', ')},
      ${sum('input_tokens')} + ${sum('output_tokens')} FROM ${source})`;
}
