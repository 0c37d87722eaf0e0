import type { ScopeDetail, StepDetail } from './api';

/** One line of the timeline: a round's heading, or a step. */
export type Row =
  | { type: 'round'; key: string; scope: ScopeDetail; round: number; depth: number }
  | { type: 'step'; key: string; step: StepDetail; depth: number; child: ScopeDetail | null };

/**
 * The tree as lines, depth first: each scope's rounds in order, each round's siblings by
 * index, and under an agent step its sub-agent's scope (unless collapsed).
 */
export function treeRows(
  scopes: readonly ScopeDetail[],
  steps: readonly StepDetail[],
  collapsed: ReadonlySet<string>,
): Row[] {
  const childOf = new Map(
    scopes.filter((s) => s.parent_step_id).map((s) => [s.parent_step_id!, s]),
  );
  const stepsOf = new Map<string, StepDetail[]>();
  for (const step of steps) {
    const list = stepsOf.get(step.scope_id) ?? [];
    list.push(step);
    stepsOf.set(step.scope_id, list);
  }
  const rows: Row[] = [];
  const visit = (scope: ScopeDetail, depth: number): void => {
    const ordered = [...(stepsOf.get(scope.id) ?? [])].sort(
      (a, b) => a.round - b.round || a.index - b.index,
    );
    let round = -1;
    for (const step of ordered) {
      if (step.round !== round) {
        round = step.round;
        rows.push({ type: 'round', key: `${scope.id}:${round}`, scope, round, depth });
      }
      const child = childOf.get(step.id) ?? null;
      rows.push({ type: 'step', key: step.id, step, depth, child });
      if (child && !collapsed.has(step.id)) visit(child, depth + 1);
    }
  };
  const top = scopes.find((scope) => scope.parent_step_id === null);
  if (top) visit(top, 0);
  return rows;
}
