import type { ResponseStatus } from '@ratchet/core';
import type { StepDetail } from '@ratchet/store';

/**
 * What an unfinished response waits for, in a few lines a person reads at a glance: its
 * unfinished steps grouped by what holds them up ("2 tool calls running on worker X",
 * "1 model call backing off until T after rate_limit_exceeded", "queued"). Empty once it ended.
 */
export function waitingSummary(
  status: ResponseStatus,
  steps: readonly StepDetail[],
  now: Date,
): string[] {
  if (status !== 'queued' && status !== 'in_progress') return [];
  // Counted by kind and reason, in the order first seen.
  const groups = new Map<string, { kind: StepDetail['kind']; reason: string; count: number }>();
  for (const step of steps) {
    const add = (reason: string): void => {
      const key = `${step.kind} ${reason}`;
      const group = groups.get(key) ?? { kind: step.kind, reason, count: 0 };
      group.count += 1;
      groups.set(key, group);
    };
    switch (step.status) {
      case 'running': {
        const expired =
          step.lease_expires_at !== null &&
          new Date(step.lease_expires_at).getTime() < now.getTime();
        if (step.kind === 'agent_call' && step.lease_expires_at === null) {
          add(`running its sub-agent`);
        } else if (expired) {
          add(
            `waiting to be taken over: worker ${step.lease_owner ?? step.executed_by ?? '?'} stopped renewing its lease`,
          );
        } else if (step.backoff && new Date(step.backoff.until).getTime() > now.getTime()) {
          add(`backing off until ${step.backoff.until} after ${step.backoff.code}`);
        } else {
          add(`running on worker ${step.lease_owner ?? '?'}`);
        }
        break;
      }
      case 'pending':
        add(step.dispatched_at === null ? `waiting for a concurrency slot` : `queued for a worker`);
        break;
      case 'completed':
      case 'failed':
      case 'cancelled':
        break;
    }
  }
  if (groups.size === 0) {
    return [
      steps.length === 0 ? 'queued: waiting for a worker to start it' : 'deciding the next round',
    ];
  }
  return [...groups.values()].map(({ kind, reason, count }) => {
    const names = KIND_NAMES[kind];
    return `${count} ${count === 1 ? names.one : names.many} ${reason}`;
  });
}

const KIND_NAMES: Record<StepDetail['kind'], { one: string; many: string }> = {
  model_call: { one: 'model call', many: 'model calls' },
  tool_call: { one: 'tool call', many: 'tool calls' },
  agent_call: { one: 'sub-agent call', many: 'sub-agent calls' },
};
