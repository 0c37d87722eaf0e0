// Which responses are live (queued or in progress). Status is in no index, so that a
// response's updates before its terminal one stay HOT; live responses are found through the
// partial index on completed_at (WHERE completed_at IS NULL), which the terminal update
// alone sets. Queries that look for live responses among all of them say both, so the
// planner can use that index.

/** Response `alias` is live, in a form the partial index on completed_at answers. */
export function liveResponse(alias: string): string {
  return `${alias}.status IN ('queued', 'in_progress') AND ${alias}.completed_at IS NULL`;
}
