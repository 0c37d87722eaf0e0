// A step's lease in SQL. A running step that a worker holds has `leased` true, and its owner
// is `executed_by`, the worker that claimed it last, which stays when the lease ends
// (migration 20261205120000_steps_leased): so the owner's id is stored once.

/** The worker holding the lease of the step `alias`, or NULL when none does. */
export const leaseOwnerOf = (alias: string): string =>
  `CASE WHEN ${alias}.leased THEN ${alias}.executed_by END`;

/** Whether the worker `owner` (an SQL expression) holds the lease of the step `alias`. */
export const leaseHeldBy = (alias: string, owner: string): string =>
  `(${alias}.leased AND ${alias}.executed_by = ${owner})`;
