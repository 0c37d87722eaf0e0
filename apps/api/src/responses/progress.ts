import type { ResponseStatus } from '@ratchet/core';
import type { StepProgress } from '@ratchet/store';

/** GET /v1/responses/{id}/steps: the step chain, and why an unfinished response waits. */
export interface ProgressView {
  object: 'response.steps';
  id: string;
  status: ResponseStatus;
  /** Empty once the response has ended. */
  waiting_for: string[];
  steps: StepProgress[];
}

/**
 * Says, for each step that is not done, what the response is waiting for; a response with
 * no such step is waiting for its next decision (or, with no steps at all, for a worker).
 */
export function progressView(
  id: string,
  status: ResponseStatus,
  steps: StepProgress[],
  now: Date,
): ProgressView {
  const live = status === 'queued' || status === 'in_progress';
  const reasons = live ? steps.flatMap((step) => waitingOn(step, now)) : [];
  if (live && reasons.length === 0) {
    reasons.push(
      steps.length === 0
        ? 'queued: waiting for a worker to start the response'
        : 'deciding the next round (a worker picks it up, or the sweeper requeues it)',
    );
  }
  return { object: 'response.steps', id, status, waiting_for: reasons, steps };
}

function waitingOn(step: StepProgress, now: Date): string[] {
  const what = `${step.kind}${step.name ? ` '${step.name}'` : ''} (step ${step.id})`;
  if (step.status === 'running') {
    if (step.kind === 'agent_call' && step.lease_expires_at === null) {
      return [`${what}: its sub-agent is running (scope depth ${step.depth + 1})`];
    }
    const expired = step.lease_expires_at !== null && new Date(step.lease_expires_at) < now;
    const backoff = step.backoff;
    if (!expired && backoff && new Date(backoff.until) > now) {
      return [
        `${what}: backing off until ${backoff.until} on worker ${step.worker ?? '?'} after attempt ${backoff.attempt} of model '${backoff.model}' failed (${backoff.code}: ${backoff.message})`,
      ];
    }
    return [
      expired
        ? `${what}: its worker ${step.worker ?? '?'} stopped renewing its lease at ${step.lease_expires_at}; another worker takes it over`
        : `${what}: running on worker ${step.worker ?? '?'} (attempt ${step.attempt}, lease until ${step.lease_expires_at})`,
    ];
  }
  if (step.status === 'awaiting_approval') {
    return [
      `${what}: waiting for a human's approval (request ${step.approval?.id ?? '?'}, expires ${step.approval?.expires_at ?? '?'})`,
    ];
  }
  if (step.status === 'pending') {
    return [
      step.dispatched_at === null
        ? `${what}: waiting for a concurrency slot of the response`
        : `${what}: queued for a worker since ${step.dispatched_at}`,
    ];
  }
  return [];
}
