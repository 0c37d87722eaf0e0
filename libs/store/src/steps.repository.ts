import { Injectable } from '@nestjs/common';
import {
  approvalRequestId,
  type Batcher,
  isTerminalStep,
  type StepApproval,
  stepId,
  type Item,
  type NewStep,
  type ResponseRecord,
  type ResponseStatus,
  type ScopeTools,
  type StepError,
  type StepRecord,
  type StepStatus,
  type StoredOutputElement,
  type StoredRequest,
  type Usage,
} from '@ratchet/core';
import { firstModelCall, type CarriedScope } from './first-step';
import { toRecord, type RecordRow } from './responses.repository';
import { topScopeId } from './scope-id';
import { Sql } from './sql';
import { STEPS_SQL } from './steps.sql';

// The engine's hot path: every method is one round trip (dispatch excepted), in plain SQL
// with prepared statements. Scopes' fixed data is cached, since it never changes.

export interface ScopeRow {
  id: string;
  responseId: string;
  parentStepId: string | null;
  depth: number;
  model: string;
  instructions: string | null;
  input: Item[];
  tools: ScopeTools;
  /** Ids of items an adopted top scope showed in earlier responses. */
  shownItems: string[];
}

/** Counters of the whole response tree, for the response-wide budgets. */
export interface TreeUsage {
  /** Every step recorded in the response, all scopes. */
  steps: number;
  /** Tool and agent calls recorded to run (refused ones excluded), all scopes. */
  toolCalls: number;
}

/** What never changes about a scope and its response. */
interface ScopeContext {
  scope: ScopeRow;
  request: StoredRequest;
  deadlineAt: Date | null;
}

/** Everything the engine needs to advance one scope. */
export interface ScopeSnapshot {
  scope: ScopeRow;
  steps: StepRecord[];
  response: {
    id: string;
    status: ResponseStatus;
    request: StoredRequest;
    deadlineAt: Date | null;
  };
  tree: TreeUsage;
}

/** A step as claimed for execution: the fencing attempt and where it belongs. */
export interface ClaimedStep {
  step: StepRecord;
  scopeId: string;
  responseId: string;
  attempt: number;
  /** The worker id the step was claimed under: its lease owner. */
  owner: string;
  /** When the response's wall-clock budget runs out (null: no budget). */
  deadlineAt: Date | null;
}

export interface StepOutcome {
  status: Extract<StepStatus, 'completed' | 'failed' | 'cancelled'>;
  result?: StepRecord['result'];
  error?: StepError | null;
  usage?: Usage | null;
}

export interface ConcurrencyLimits {
  perScope: number;
  perResponse: number;
}

export interface NewChildScope {
  id: string;
  responseId: string;
  parentStepId: string;
  depth: number;
  model: string;
  instructions: string | null;
  input: Item[];
  tools: ScopeTools;
}

/** What recording a step's outcome did, with the scope's state when its round completed. */
export interface Finished {
  recorded: boolean;
  roundComplete: boolean;
  /** Calls of the tree waiting for approval. */
  awaiting: number;
  /**
   * With the round still open: whether a step of the response waits for the slot this
   * outcome freed, as the outcome's own statement saw it; null when only a look after the
   * commit can tell (hasWaitingSteps), in a tree with other scopes still going.
   */
  waiting: boolean | null;
  scopeId: string | null;
  snapshot: ScopeSnapshot | null;
}

/** How a response ends, as its top scope decided. */
export interface ResponseEnd {
  responseId: string;
  status: 'completed' | 'incomplete' | 'failed';
  output: Item[];
  /** The output as stored, its items that the steps hold referenced (compactOutput). */
  storedOutput?: StoredOutputElement[];
  error: StepError | null;
  incompleteDetails: { reason: string } | null;
}

export interface AppendBudget {
  maxSteps: number;
  maxToolCalls: number | null;
  /** How long a call's approval request waits for an answer (approvals.expiresAfterMs). */
  approvalExpiresAfterMs?: number;
  /**
   * The concurrency limits: given them, a round recorded with no step claimed is recorded
   * dispatched when it surely fits them (`AppendResult.dispatched`).
   */
  dispatchLimits?: ConcurrencyLimits;
}

/**
 * Steps to record already claimed by `owner` (attempt 1), by their indexes in the round. The
 * one runnable step of its round is claimed outright: it takes the slot of the step that led
 * to it. Steps of a round of several are claimed only if the whole round surely fits the
 * concurrency limits (then the rest is recorded dispatched); otherwise every step is recorded
 * pending, for the dispatcher.
 */
export interface InlineClaim {
  owner: string;
  leaseMs: number;
  indexes: readonly number[];
}

interface AppendRow {
  live: boolean;
  fits: boolean;
  dispatched: boolean;
  steps: StepRow[];
}

/**
 * One operation of the batched round statements, as its JSON (steps.sql.ts names the keys):
 * a round to record, and for some statements the outcome of the step before it or how the
 * response ends.
 */
interface RoundOp {
  response_id: string;
  scope_id?: string;
  round?: number;
  n?: number;
  steps?: unknown[];
  max_steps?: number;
  max_tool_calls?: number | null;
  tool_calls?: number;
  owner?: string | null;
  lease_ms?: number;
  per_scope?: number | null;
  per_response?: number | null;
  step_id?: string;
  attempt?: number;
  outcome_status?: string;
  result?: unknown;
  error?: unknown;
  usage?: unknown;
  end_status?: string;
  output?: unknown;
  stored_output?: unknown;
  end_error?: unknown;
  incomplete_details?: unknown;
  more?: unknown[];
  relaxed?: boolean;
  taker?: string | null;
}

function roundOp(round: NewRound, budget: AppendBudget, claim: InlineClaim | null): RoundOp {
  const now = new Date();
  const runnable = round.steps.filter((step) => !step.refused && !step.awaitingApproval).length;
  const outright = claim !== null && claim.indexes.length === 1 && runnable === 1;
  const steps = round.steps.map((step) => {
    const id = stepId(round.scopeId, round.round, step.index);
    return {
      id,
      index: step.index,
      kind: step.kind,
      status: step.refused
        ? 'failed'
        : step.awaitingApproval
          ? 'awaiting_approval'
          : claim?.indexes.includes(step.index)
            ? 'running'
            : 'pending',
      call_id: step.callId,
      name: step.name,
      arguments: step.arguments,
      error: step.refused ?? null,
      approval:
        step.awaitingApproval && !step.refused
          ? newApproval(id, step.awaitingApproval, now, budget.approvalExpiresAfterMs)
          : null,
    };
  });
  return {
    response_id: round.responseId,
    scope_id: round.scopeId,
    round: round.round,
    n: steps.length,
    steps,
    max_steps: budget.maxSteps,
    max_tool_calls: budget.maxToolCalls,
    tool_calls: round.steps.filter((s) => s.kind !== 'model_call' && !s.refused).length,
    owner: claim?.owner ?? null,
    lease_ms: claim?.leaseMs ?? 0,
    per_scope: outright ? null : (budget.dispatchLimits?.perScope ?? null),
    per_response: outright ? null : (budget.dispatchLimits?.perResponse ?? null),
    // A model call claimed to run next: nothing outside Postgres acts on this commit.
    relaxed: outright && round.steps.every((step) => step.kind === 'model_call'),
  };
}

/**
 * Runs a statement that records a round once more if it failed on a step id taken already.
 * Step ids are derived from the round (stepId), so that is a round that a concurrent
 * statement recorded after this one's snapshot: run again, the statement sees it and
 * records nothing. (The Batcher runs the operations of a failed batch again one by one; an
 * operation that went alone, or failed alone too, comes back here.) Another failure on the
 * same key is two different steps with one id, which must not pass for recorded: it is
 * thrown.
 */
async function onceMore<T>(record: () => Promise<T>): Promise<T> {
  try {
    return await record();
  } catch (error) {
    if (!isStepIdTaken(error)) throw error;
    return record();
  }
}

function isStepIdTaken(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'steps_pkey';
}

/** What a step that waits for approval records of it (approvals.ts). */
function newApproval(
  stepId: string,
  call: { server_label: string; name: string },
  now: Date,
  expiresAfterMs = 24 * 60 * 60 * 1000,
): StepApproval {
  return {
    id: approvalRequestId(stepId),
    server_label: call.server_label,
    name: call.name,
    requested_at: now.toISOString(),
    expires_at: new Date(now.getTime() + expiresAfterMs).toISOString(),
    decision: null,
  };
}

/** A step's outcome, with the attempt that ran it (the fence). */
export interface FencedOutcome {
  stepId: string;
  attempt: number;
  outcome: StepOutcome;
  /**
   * The worker that ran the step before claiming it, when no claim has been made (a new
   * response's first model call, see FINISH_FENCED in steps.sql.ts): the outcome is written
   * if the step is still pending, and claims it for `attempt` at once.
   */
  taker?: string | null;
}

/**
 * The outcome part of an operation: the first step's outcome and the attempt that wrote it,
 * and its siblings' as `more` (written all or none, see FINISH_FENCED).
 */
function outcomesOp([first, ...siblings]: readonly FencedOutcome[]) {
  return siblings.length === 0
    ? outcomeOp(first)
    : { ...outcomeOp(first), more: siblings.map(outcomeOp) };
}

/** One step's outcome as an operation's fields. */
function outcomeOp(step: FencedOutcome) {
  const { outcome } = step;
  return {
    step_id: step.stepId,
    attempt: step.attempt,
    outcome_status: outcome.status,
    result: outcome.result ?? null,
    error: outcome.error ?? null,
    usage: outcome.usage ?? null,
    taker: step.taker ?? null,
  };
}

function appendResult(row: AppendRow): AppendResult {
  if (!row.live) return { type: 'ended' };
  if (!row.fits) return { type: 'over_budget' };
  if (row.steps.length === 0) return { type: 'exists' };
  return { type: 'recorded', steps: row.steps, dispatched: row.dispatched };
}

/** A round the transition decided on, with where it goes. */
export interface NewRound {
  responseId: string;
  scopeId: string;
  round: number;
  steps: readonly NewStep[];
}

/**
 * What recording a round did: recorded it; found it recorded already (the caller's view
 * was stale); found it no longer fits the budget; or found the response ended.
 */
export type AppendResult =
  /**
   * `dispatched`: its pending steps were recorded dispatched, for the caller to queue (when
   * the round fit the concurrency limits it was given); otherwise the caller dispatches.
   */
  | { type: 'recorded'; steps: StepRecord[]; dispatched: boolean }
  | { type: 'exists' }
  | { type: 'over_budget' }
  | { type: 'ended' };

const CONTEXT_CACHE_SIZE = 10_000;

interface StepRow {
  id: string;
  round: number;
  index: number;
  kind: StepRecord['kind'];
  status: StepRecord['status'];
  callId: string | null;
  name: string | null;
  arguments: string | null;
  result: StepRecord['result'];
  error: StepError | null;
}

interface ContextRow {
  id: string;
  response_id: string;
  parent_step_id: string | null;
  depth: number;
  model: string;
  instructions: string | null;
  input: Item[];
  tools: ScopeTools;
  shown_items?: string[] | null;
  request: StoredRequest;
  deadline_at: Date | null;
}

interface ClaimOp {
  response_id: string;
  step_id: string;
  owner: string;
  lease_ms: number;
}

/** A claimed step as the claim statement returns it, as JSON. */
type ClaimRow = StepRow & {
  o: number;
  attempt: number;
  scope_id: string;
  response_id: string;
  deadline_at: string | null;
};

interface FinishOp {
  response_id: string;
  step_id: string;
  attempt: number | null;
  outcome_status: StepOutcome['status'];
  result: unknown;
  error: unknown;
  usage: unknown;
}

/** What the finish statement returns for an outcome it wrote (none when it wrote nothing). */
interface FinishRow {
  scope_id: string;
  open: number;
  status: ResponseStatus;
  step_count: number;
  tool_call_count: number;
  awaiting_approvals: number;
  steps: StepRow[] | null;
  /** With the round still open: whether a step waits for a slot; null when unknown. */
  waiting: boolean | null;
}

interface StateRow {
  status: ResponseStatus;
  step_count: number;
  tool_call_count: number;
  steps: StepRow[];
}

/** The child scope of an agent step has an id derived from the step's. */
export function childScopeId(stepId: string): string {
  return `scope_${stepId.replace(/^step_/, '')}`;
}

@Injectable()
export class StepsRepository {
  private readonly contexts = new Map<string, ScopeContext>();
  // A round statement's operations go many responses' at a time, one per response.
  private readonly appendBatcher: Batcher<RoundOp, AppendRow>;
  private readonly appendFirstBatcher: Batcher<RoundOp, AppendRow & { context: ContextRow | null }>;
  // A round's only step's outcome, or its siblings' run together: statements of their own,
  // so that the one-step form, every sequential step's, stays as plain as it is.
  private readonly finishAndAppendBatchers: Record<
    'step' | 'round',
    Batcher<RoundOp, AppendRow & { recorded: boolean; found?: boolean | null }>
  >;
  private readonly finishAndEndBatchers: Record<
    'step' | 'round',
    Batcher<RoundOp, { recorded: boolean; record: RecordRow | null; found: boolean | null }>
  >;
  // Claims, outcomes and the waiting checks after them go many at a time too: siblings of
  // a round run at once, and under load so do many responses' steps.
  private readonly claimBatcher: Batcher<ClaimOp, { claimed: ClaimRow | null; found: boolean }>;
  private readonly unclaimBatcher: Batcher<
    { response_id: string; step_id: string; attempt: number; owner: string },
    { unclaimed: boolean }
  >;
  private readonly finishBatcher: Batcher<FinishOp, FinishRow>;
  private readonly waitingBatcher: Batcher<{ response_id: string }, { waiting: boolean }>;

  constructor(private readonly sql: Sql) {
    const byResponse = (op: { response_id: string }): string => op.response_id;
    this.appendBatcher = sql.batcher(STEPS_SQL.append, byResponse);
    this.appendFirstBatcher = sql.batcher(STEPS_SQL.appendFirst, byResponse);
    this.finishAndAppendBatchers = {
      step: sql.batcher(STEPS_SQL.finishAndAppend, byResponse),
      round: sql.batcher(STEPS_SQL.finishRoundAndAppend, byResponse),
    };
    this.finishAndEndBatchers = {
      step: sql.batcher(STEPS_SQL.finishAndEnd, byResponse),
      round: sql.batcher(STEPS_SQL.finishRoundAndEnd, byResponse),
    };
    this.claimBatcher = sql.batcher(STEPS_SQL.claim, (op: ClaimOp) => op.step_id);
    this.unclaimBatcher = sql.batcher(STEPS_SQL.unclaim, (op) => op.step_id);
    // Siblings of one round finish together (the statement counts them per scope).
    this.finishBatcher = sql.batcher<FinishOp, FinishRow>(STEPS_SQL.finish, (op) => op.step_id);
    this.waitingBatcher = sql.batcher<{ response_id: string }, { waiting: boolean }>(
      STEPS_SQL.waiting,
      byResponse,
    );
  }

  async loadScope(scopeId: string): Promise<ScopeSnapshot | null> {
    let context = this.contexts.get(scopeId);
    let state: StateRow | undefined;
    if (context) {
      [state] = await this.sql.query<StateRow>(STEPS_SQL.state, [
        scopeId,
        context.scope.responseId,
      ]);
    } else {
      const [row] = await this.sql.query<ContextRow & StateRow>(STEPS_SQL.contextAndState, [
        scopeId,
      ]);
      if (row) context = this.remember(row);
      state = row;
    }
    if (!context || !state) return null;
    return {
      scope: context.scope,
      steps: state.steps,
      response: {
        id: context.scope.responseId,
        status: state.status,
        request: context.request,
        deadlineAt: context.deadlineAt,
      },
      tree: { steps: state.step_count, toolCalls: state.tool_call_count },
    };
  }

  /**
   * A new response's scope as the statement creating it left it, with its first model call
   * recorded pending (first-step.ts), from what the call's job carries: the call's step and
   * the snapshot it runs on. No round trip; the scope is remembered as one read would be.
   */
  firstStep(
    responseId: string,
    id: string,
    carried: CarriedScope,
  ): { step: StepRecord; snapshot: ScopeSnapshot } {
    const context = this.remember({
      id: topScopeId(responseId),
      response_id: responseId,
      parent_step_id: null,
      depth: 0,
      model: carried.model,
      instructions: carried.instructions,
      input: carried.input,
      tools: carried.tools,
      shown_items: null,
      request: carried.request,
      deadline_at: carried.deadlineAt === null ? null : new Date(carried.deadlineAt),
    });
    const step = firstModelCall(id);
    return {
      step,
      snapshot: {
        scope: context.scope,
        steps: [step],
        response: {
          id: responseId,
          status: 'in_progress',
          request: context.request,
          deadlineAt: context.deadlineAt,
        },
        tree: { steps: 1, toolCalls: 0 },
      },
    };
  }

  private async context(scopeId: string): Promise<ScopeContext | null> {
    const cached = this.contexts.get(scopeId);
    if (cached) return cached;
    const [row] = await this.sql.query<ContextRow>(STEPS_SQL.context, [scopeId]);
    return row ? this.remember(row) : null;
  }

  private remember(row: ContextRow): ScopeContext {
    const context: ScopeContext = {
      scope: {
        id: row.id,
        responseId: row.response_id,
        parentStepId: row.parent_step_id,
        depth: row.depth,
        model: row.model,
        instructions: row.instructions,
        input: row.input,
        tools: row.tools,
        shownItems: row.shown_items ?? [],
      },
      request: row.request,
      deadlineAt: row.deadline_at,
    };
    if (this.contexts.size >= CONTEXT_CACHE_SIZE) {
      this.contexts.delete(this.contexts.keys().next().value as string);
    }
    this.contexts.set(row.id, context);
    return context;
  }

  /**
   * Records a round the transition decided on, if it still fits the response-wide budgets.
   * A step's id is derived from (scope, round, index), so recording the same decision twice
   * inserts nothing (see onceMore).
   * Refused calls are recorded already failed, so the model hears why they did not run.
   * With `claim`, the steps at its indexes are recorded already claimed by the caller (attempt
   * 1, see InlineClaim), saving their claims' round trips. The response moves to in_progress
   * with its first round.
   */
  async appendRound(
    round: NewRound,
    budget: AppendBudget,
    claim: InlineClaim | null = null,
  ): Promise<AppendResult> {
    const op = roundOp(round, budget, claim);
    return appendResult(await onceMore(() => this.appendBatcher.run(op)));
  }

  /**
   * Records a new scope's first round as `appendRound` would, without reading the scope
   * first, and returns the scope as it then is. Null when the scope has steps already (or
   * its response ended, or the round does not fit): the caller reads it and decides again.
   * `missing` when there is no such scope: not recorded yet, or never.
   */
  async appendFirstRound(
    round: NewRound,
    budget: AppendBudget,
    claim: InlineClaim | null,
  ): Promise<{ snapshot: ScopeSnapshot; steps: StepRecord[] } | 'missing' | null> {
    const op = roundOp(round, budget, claim);
    const row = await onceMore(() => this.appendFirstBatcher.run(op));
    if (!row.context) return 'missing';
    const result = appendResult(row);
    if (result.type !== 'recorded') return null;
    const context = this.remember({
      ...row.context,
      deadline_at: row.context.deadline_at === null ? null : new Date(row.context.deadline_at),
    });
    const toolCalls = result.steps.filter(
      (step) => step.kind !== 'model_call' && step.status !== 'failed',
    ).length;
    return {
      steps: result.steps,
      snapshot: {
        scope: context.scope,
        steps: result.steps,
        response: {
          id: context.scope.responseId,
          status: 'in_progress',
          request: context.request,
          deadlineAt: context.deadlineAt,
        },
        tree: { steps: result.steps.length, toolCalls },
      },
    };
  }

  /**
   * Records the outcomes of the steps of a round (its only step, or every sibling; fenced by
   * attempt, all or none) and the round they lead to, as `finish` and `appendRound` would, in
   * one round trip. `missing`: an outcome with a `taker` found no such step (not committed
   * yet, or never).
   */
  async finishAndAppend(
    steps: readonly FencedOutcome[],
    round: NewRound,
    budget: AppendBudget,
    claim: InlineClaim | null,
  ): Promise<{ recorded: boolean; append: AppendResult; missing: boolean }> {
    const op = { ...roundOp(round, budget, claim), ...outcomesOp(steps) };
    const batcher = this.finishAndAppendBatchers[steps.length > 1 ? 'round' : 'step'];
    const result = await onceMore(() => batcher.run(op));
    return {
      recorded: result.recorded,
      append: appendResult(result),
      missing: result.found === false,
    };
  }

  /**
   * Whether a pending step of the response waits to be dispatched (held back by a
   * concurrency limit). Asked, without a lock, after a step's outcome is committed: a step
   * recorded before then is seen, and one recorded after is dispatched by its own recorder,
   * which then sees this step finished.
   */
  async hasWaitingSteps(responseId: string): Promise<boolean> {
    const row = await this.waitingBatcher.run({ response_id: responseId });
    return row?.waiting === true;
  }

  /**
   * Hands pending steps of a response to the queue, as far as the concurrency limits allow;
   * returns the ids to enqueue. Model and tool steps in flight count against the limits;
   * agent steps do not, since they only wait for their child scope, whose steps count.
   * The response row is locked, so concurrent dispatches never overshoot a limit.
   */
  async dispatch(responseId: string, limits: ConcurrencyLimits): Promise<string[]> {
    return this.sql.transaction(async (client) => {
      await client.query({ ...STEPS_SQL.lockResponse, values: [responseId] });
      const { rows } = await client.query<{
        id: string;
        scope_id: string;
        kind: string;
        in_flight: boolean;
      }>({ ...STEPS_SQL.openSteps, values: [responseId] });
      const perScope = new Map<string, number>();
      let inResponse = 0;
      for (const row of rows) {
        if (!row.in_flight || row.kind === 'agent_call') continue;
        perScope.set(row.scope_id, (perScope.get(row.scope_id) ?? 0) + 1);
        inResponse += 1;
      }
      const chosen: string[] = [];
      for (const row of rows) {
        if (row.in_flight) continue;
        if (row.kind !== 'agent_call') {
          const scopeCount = perScope.get(row.scope_id) ?? 0;
          if (scopeCount >= limits.perScope || inResponse >= limits.perResponse) continue;
          perScope.set(row.scope_id, scopeCount + 1);
          inResponse += 1;
        }
        chosen.push(row.id);
      }
      if (chosen.length > 0) {
        await client.query({ ...STEPS_SQL.markDispatched, values: [responseId, chosen] });
      }
      return chosen;
    });
  }

  /**
   * Takes a step for execution: a pending step, or a running one whose owner's lease has
   * expired, of a response that is still going. Bumps the attempt, which fences out any
   * earlier owner's late result.
   */
  async claim(
    responseId: string,
    stepId: string,
    owner: string,
    leaseMs: number,
  ): Promise<ClaimedStep | null> {
    const claimed = await this.claimOrMissing(responseId, stepId, owner, leaseMs);
    return claimed === 'missing' ? null : claimed;
  }

  /**
   * `claim`, telling a step that is not there (`missing`: not committed yet, or never) from
   * one that cannot be claimed.
   */
  async claimOrMissing(
    responseId: string,
    stepId: string,
    owner: string,
    leaseMs: number,
  ): Promise<ClaimedStep | 'missing' | null> {
    const row = await this.claimBatcher.run({
      response_id: responseId,
      step_id: stepId,
      owner,
      lease_ms: leaseMs,
    });
    if (!row?.found) return 'missing';
    if (!row.claimed) return null;
    // `o` is the operation's number in its batch, not part of the step.
    const { o: _o, attempt, scope_id, response_id, deadline_at, ...step } = row.claimed;
    return {
      step,
      scopeId: scope_id,
      responseId: response_id,
      attempt,
      owner,
      // Read back from JSON: a timestamp comes as its text.
      deadlineAt: deadline_at === null ? null : new Date(deadline_at),
    };
  }

  /**
   * Gives up a step `owner` claimed at `attempt` and has not run: it is pending again, to be
   * claimed from the queue at the same attempt. False when the step is no longer so held (its
   * response ended, or a recovery took it over): then there is nothing to hand on.
   */
  async unclaim(
    responseId: string,
    stepId: string,
    attempt: number,
    owner: string,
  ): Promise<boolean> {
    const row = await this.unclaimBatcher.run({
      response_id: responseId,
      step_id: stepId,
      attempt,
      owner,
    });
    return row?.unclaimed === true;
  }

  /**
   * Records a step's outcome if it is still running (and, given an attempt, if that attempt
   * still owns it), and says whether its round is now complete. A completed round comes with
   * a snapshot of its scope for the next decision, unless a concurrent sibling may be missing
   * from it; then `snapshot` is null and the caller loads one.
   */
  async finish(
    responseId: string,
    stepId: string,
    attempt: number | null,
    outcome: StepOutcome,
  ): Promise<Finished> {
    const row = await this.finishBatcher.run({
      response_id: responseId,
      step_id: stepId,
      attempt,
      outcome_status: outcome.status,
      result: outcome.result ?? null,
      error: outcome.error ?? null,
      usage: outcome.usage ?? null,
    });
    if (!row) {
      return {
        recorded: false,
        roundComplete: false,
        awaiting: 0,
        waiting: false,
        scopeId: null,
        snapshot: null,
      };
    }
    const awaiting = row.awaiting_approvals;
    if (row.open !== 0 || row.steps === null) {
      return {
        recorded: true,
        roundComplete: false,
        awaiting,
        waiting: row.open === 0 ? null : row.waiting,
        scopeId: row.scope_id,
        snapshot: null,
      };
    }
    // The statement put in the outcomes it wrote, this step's among them.
    const steps = row.steps;
    const context = await this.context(row.scope_id);
    const fresh = steps.every((step) => isTerminalStep(step.status));
    return {
      recorded: true,
      roundComplete: true,
      awaiting,
      waiting: false,
      scopeId: row.scope_id,
      snapshot:
        context && fresh
          ? {
              scope: context.scope,
              steps,
              response: {
                id: context.scope.responseId,
                status: row.status,
                request: context.request,
                deadlineAt: context.deadlineAt,
              },
              tree: { steps: row.step_count, toolCalls: row.tool_call_count },
            }
          : null,
    };
  }

  /**
   * Records the outcomes of the top scope's last round (fenced by attempt, all or none) and
   * the response's terminal state with the usage of the whole tree, in one round trip.
   * `ended` is the finished response when this call wrote the terminal state (it is written
   * exactly once). `missing` as for finishAndAppend.
   */
  async finishAndEnd(
    steps: readonly FencedOutcome[],
    end: ResponseEnd,
  ): Promise<{ recorded: boolean; ended: ResponseRecord | null; missing: boolean }> {
    const row = await this.finishAndEndBatchers[steps.length > 1 ? 'round' : 'step'].run({
      response_id: end.responseId,
      ...outcomesOp(steps),
      end_status: end.status,
      output: end.output,
      stored_output: end.storedOutput,
      end_error: end.error,
      incomplete_details: end.incompleteDetails,
    });
    return {
      recorded: row.recorded,
      ended: row.record ? toRecord(row.record) : null,
      missing: row.found === false,
    };
  }

  /** Opens the scope an agent step runs; opening it again finds the existing one. */
  async openChildScope(scope: NewChildScope): Promise<void> {
    await this.sql.query(STEPS_SQL.openChild, [
      scope.id,
      scope.responseId,
      scope.parentStepId,
      scope.depth,
      scope.model,
      scope.instructions,
      JSON.stringify(scope.input),
      JSON.stringify(scope.tools),
    ]);
  }

  /** The agent step a child scope runs for, with the scope the step belongs to. */
  async parentOf(childScopeIdValue: string): Promise<{ stepId: string; scopeId: string } | null> {
    const [row] = await this.sql.query<{ step_id: string; scope_id: string }>(STEPS_SQL.parentOf, [
      childScopeIdValue,
    ]);
    return row ? { stepId: row.step_id, scopeId: row.scope_id } : null;
  }

  /** Marks a scope finished (for inspection; the parent step carries the result). */
  async closeScope(scopeId: string, status: StepStatus, output: Item[]): Promise<void> {
    await this.sql.query(STEPS_SQL.closeScope, [scopeId, status, JSON.stringify(output)]);
  }

  /** Ends every unfinished step of a response as cancelled (after the response ended). */
  /**
   * Records the estimated usage of a call that was cut short, even if its step was already
   * ended by the cancel; a cancelled response's usage then includes it.
   */
  async recordCutShortUsage(
    step: { id: string; attempt: number; responseId: string },
    usage: Usage,
  ): Promise<void> {
    await this.sql.query(STEPS_SQL.cutShortUsage, [
      step.id,
      step.attempt,
      JSON.stringify(usage),
      step.responseId,
    ]);
  }

  async cancelOpenSteps(responseId: string): Promise<void> {
    await this.sql.query(STEPS_SQL.cancelOpen, [responseId]);
  }
}
