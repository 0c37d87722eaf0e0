import type { StepProgress } from '@ratchet/store';
import { progressView } from './progress';

const now = new Date('2026-11-21T12:00:00.000Z');

function step(overrides: Partial<StepProgress>): StepProgress {
  return {
    id: 'step_1',
    scope_id: 'scope_1',
    depth: 0,
    round: 0,
    index: 0,
    kind: 'tool_call',
    status: 'completed',
    name: 'lookup',
    call_id: 'call_1',
    attempt: 1,
    worker: null,
    lease_expires_at: null,
    dispatched_at: null,
    started_at: null,
    completed_at: null,
    error: null,
    usage: null,
    backoff: null,
    truncation: null,
    approval: null,
    adopted_from: null,
    ...overrides,
  };
}

describe('progressView', () => {
  it('says a response with no steps waits for a worker', () => {
    expect(progressView('resp_1', 'queued', [], now).waiting_for).toEqual([
      'queued: waiting for a worker to start the response',
    ]);
  });

  it('names the worker and lease of a running step, and a lease that ran out', () => {
    const view = progressView(
      'resp_1',
      'in_progress',
      [
        step({
          id: 'step_a',
          status: 'running',
          worker: 'w1',
          lease_expires_at: '2026-11-21T12:00:05.000Z',
        }),
        step({
          id: 'step_b',
          status: 'running',
          worker: 'w2',
          lease_expires_at: '2026-11-21T11:59:55.000Z',
        }),
      ],
      now,
    );
    expect(view.waiting_for).toEqual([
      "tool_call 'lookup' (step step_a): running on worker w1 (attempt 1, lease until 2026-11-21T12:00:05.000Z)",
      "tool_call 'lookup' (step step_b): its worker w2 stopped renewing its lease at 2026-11-21T11:59:55.000Z; another worker takes it over",
    ]);
  });

  it('says when a model call backs off after an upstream failure, and why', () => {
    const view = progressView(
      'resp_1',
      'in_progress',
      [
        step({
          id: 'step_m',
          kind: 'model_call',
          name: null,
          status: 'running',
          worker: 'w1',
          lease_expires_at: '2026-11-21T12:00:20.000Z',
          backoff: {
            until: '2026-11-21T12:00:02.000Z',
            model: 'gpt',
            attempt: 2,
            code: 'rate_limit_exceeded',
            message: 'Slow down.',
          },
        }),
      ],
      now,
    );
    expect(view.waiting_for).toEqual([
      "model_call (step step_m): backing off until 2026-11-21T12:00:02.000Z on worker w1 after attempt 2 of model 'gpt' failed (rate_limit_exceeded: Slow down.)",
    ]);
  });

  it('tells a step waiting for a slot from one queued for a worker, and a running sub-agent', () => {
    const view = progressView(
      'resp_1',
      'in_progress',
      [
        step({ id: 'step_a', status: 'pending' }),
        step({ id: 'step_b', status: 'pending', dispatched_at: '2026-11-21T11:59:59.000Z' }),
        step({ id: 'step_c', kind: 'agent_call', name: 'helper', status: 'running' }),
      ],
      now,
    );
    expect(view.waiting_for).toEqual([
      "tool_call 'lookup' (step step_a): waiting for a concurrency slot of the response",
      "tool_call 'lookup' (step step_b): queued for a worker since 2026-11-21T11:59:59.000Z",
      "agent_call 'helper' (step step_c): its sub-agent is running (scope depth 1)",
    ]);
  });

  it('says a live response whose steps are all done waits for its next decision', () => {
    expect(progressView('resp_1', 'in_progress', [step({})], now).waiting_for).toEqual([
      'deciding the next round (a worker picks it up, or the sweeper requeues it)',
    ]);
  });

  it('waits for nothing once the response ended', () => {
    expect(progressView('resp_1', 'completed', [step({})], now).waiting_for).toEqual([]);
  });
});
