import type { StepDetail } from '@ratchet/store';
import { waitingSummary } from './waiting-summary';

const NOW = new Date('2026-12-03T15:00:00.000Z');
const LATER = '2026-12-03T15:00:30.000Z';
const EARLIER = '2026-12-03T14:59:00.000Z';

function step(overrides: Partial<StepDetail>): StepDetail {
  return {
    id: 'step_1',
    scope_id: 'scope_1',
    round: 0,
    index: 0,
    kind: 'tool_call',
    status: 'running',
    name: 'lookup',
    call_id: 'call_1',
    arguments: '{}',
    result: null,
    error: null,
    usage: null,
    backoff: null,
    attempt: 1,
    executed_by: 'wrk_a',
    lease_owner: 'wrk_a',
    lease_expires_at: LATER,
    created_at: EARLIER,
    dispatched_at: EARLIER,
    started_at: EARLIER,
    completed_at: null,
    ...overrides,
  };
}

describe('waitingSummary', () => {
  it('says nothing once the response ended', () => {
    expect(waitingSummary('completed', [step({})], NOW)).toEqual([]);
  });

  it('says a response with no steps waits for a worker', () => {
    expect(waitingSummary('queued', [], NOW)).toEqual(['queued: waiting for a worker to start it']);
  });

  it('groups running siblings by worker', () => {
    const steps = [
      step({ id: 'a', index: 0 }),
      step({ id: 'b', index: 1 }),
      step({ id: 'c', index: 2, lease_owner: 'wrk_b', executed_by: 'wrk_b' }),
      step({ id: 'd', index: 3, status: 'completed', completed_at: EARLIER }),
    ];
    expect(waitingSummary('in_progress', steps, NOW)).toEqual([
      '2 tool calls running on worker wrk_a',
      '1 tool call running on worker wrk_b',
    ]);
  });

  it('names a backoff with its end and its cause', () => {
    const backoff = {
      until: LATER,
      model: 'mock',
      attempt: 1,
      code: 'rate_limit_exceeded',
      message: '429',
    };
    expect(
      waitingSummary('in_progress', [step({ kind: 'model_call', name: null, backoff })], NOW),
    ).toEqual([`1 model call backing off until ${LATER} after rate_limit_exceeded`]);
  });

  it('tells queued steps from steps waiting for a slot, and sub-agents from leases run out', () => {
    const steps = [
      step({ id: 'a', status: 'pending', started_at: null, lease_owner: null }),
      step({
        id: 'b',
        status: 'pending',
        dispatched_at: null,
        started_at: null,
        lease_owner: null,
      }),
      step({ id: 'c', kind: 'agent_call', lease_expires_at: null, lease_owner: null }),
      step({ id: 'd', lease_expires_at: EARLIER }),
    ];
    expect(waitingSummary('in_progress', steps, NOW)).toEqual([
      '1 tool call queued for a worker',
      '1 tool call waiting for a concurrency slot',
      '1 sub-agent call running its sub-agent',
      '1 tool call waiting to be taken over: worker wrk_a stopped renewing its lease',
    ]);
  });

  it('says a response between rounds is deciding', () => {
    expect(
      waitingSummary('in_progress', [step({ status: 'completed', completed_at: EARLIER })], NOW),
    ).toEqual(['deciding the next round']);
  });
});
