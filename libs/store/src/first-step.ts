import {
  firstDecision,
  stepId,
  storedRequest,
  type Item,
  type ScopeTools,
  type StepRecord,
  type StoredRequest,
} from '@ratchet/core';
import type { NewResponse } from './responses.repository';
import { topScopeId } from './scope-id';

// A new response's first model call, recorded with the response rather than by the worker
// that takes its job: the job carries what the call needs, the scope as the create statement
// stores it, and the worker makes the call before it writes anything. The call's outcome then
// claims and finishes it in one statement (FINISH_FENCED in steps.sql.ts), or, should the call
// run long, the worker claims it first as any queued step (apps/worker/src/first-take.ts).
// docs/cpu.md, "The first model call rides with the response".

/** The largest scope (as JSON) a job carries; a larger one's response starts as before. */
const CARRIED_SCOPE_MAX_CHARS = 32 * 1024;

/** What a first model call needs of its scope, as its job carries it (JSON). */
export interface CarriedScope {
  model: string;
  instructions: string | null;
  input: Item[];
  tools: ScopeTools;
  request: StoredRequest;
  /** ISO time, or null. */
  deadlineAt: string | null;
}

/** A first model call for a new response's job, and its id, which the create records. */
export interface FirstStep {
  stepId: string;
  scope: CarriedScope;
}

/**
 * The first model call of a new response, with the scope its job carries: null when the
 * caps leave no room for one, or the scope is too large to carry.
 */
export function firstStepOf(
  response: Pick<NewResponse, 'id' | 'model' | 'request' | 'context' | 'tools' | 'deadlineAt'>,
  limits: { maxIterations: number; maxSteps: number },
): FirstStep | null {
  const decision = firstDecision(limits);
  if (decision.type !== 'append' || decision.steps.length !== 1) return null;
  const scope: CarriedScope = {
    model: response.model,
    instructions: response.request.instructions ?? null,
    input: response.context,
    tools: response.tools,
    request: storedRequest(response.request),
    deadlineAt: response.deadlineAt.toISOString(),
  };
  if (JSON.stringify(scope).length > CARRIED_SCOPE_MAX_CHARS) return null;
  return {
    stepId: stepId(topScopeId(response.id), decision.round, decision.steps[0].index),
    scope,
  };
}

/** The step record of a new response's first model call `id`, as its worker runs it. */
export function firstModelCall(id: string): StepRecord {
  return {
    id,
    round: 0,
    index: 0,
    kind: 'model_call',
    status: 'running',
    callId: null,
    name: null,
    arguments: null,
    result: null,
    error: null,
  };
}
