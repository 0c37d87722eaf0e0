import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  finalText,
  isTerminalStatus,
  isTerminalStep,
  sumUsage,
  transition,
  type Decision,
  type Item,
  type StepError,
  type StepRecord,
} from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { JobQueue, type JobPayload } from '@ratchet/queue';
import {
  ResponsesRepository,
  StepsRepository,
  type ScopeSnapshot,
  type StepOutcome,
} from '@ratchet/store';
import { InFlightRegistry } from './in-flight.registry';
import { StepExecutor } from './step-executor';

/** Decisions tried for one advance before it fails (and BullMQ retries it). */
const MAX_DECISIONS = 5;

/** How long a claimed model or tool step is ours before another worker may take it over. */
const STEP_LEASE_MS = 5 * 60_000;

/** How a scope ended, in the terms its parent (the response or an agent step) needs. */
type ScopeEnd =
  | { status: 'completed'; output: Item[] }
  | { status: 'incomplete'; output: Item[]; reason: string }
  | { status: 'failed'; output: Item[]; error: StepError };

/**
 * Drives responses. `advance` asks the transition function what a scope does next and
 * records it; `runStep` executes one recorded step and, when its round is complete, queues
 * the scope's next advance. Both are safe to run twice for the same input: steps have a
 * deterministic identity, results are fenced by attempt, terminal states are conditional.
 */
@Injectable()
export class EngineService {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  constructor(
    private readonly config: AppConfig,
    private readonly responses: ResponsesRepository,
    private readonly steps: StepsRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
    private readonly executor: StepExecutor,
    private readonly inFlight: InFlightRegistry,
  ) {}

  async advance({ scopeId }: JobPayload<'scope.advance'>): Promise<void> {
    // A round can be refused at recording time when concurrent scopes of the tree spent the
    // budget first; deciding again on fresh counts then ends or shrinks the scope.
    for (let attempt = 0; attempt < MAX_DECISIONS; attempt++) {
      if (await this.decide(scopeId)) return;
    }
    throw new Error(`scope ${scopeId}: no decision fit the budget after ${MAX_DECISIONS} tries`);
  }

  /** One decision for a scope; false when its round did not fit the budget any more. */
  private async decide(scopeId: string): Promise<boolean> {
    const snapshot = await this.steps.loadScope(scopeId);
    if (!snapshot || isTerminalStatus(snapshot.response.status)) return true;
    if (snapshot.scope.parentStepId === null && snapshot.response.status === 'queued') {
      await this.responses.markInProgress(snapshot.response.id);
    }
    const { limits } = this.config.config;
    const maxToolCalls = snapshot.response.request.max_tool_calls;
    const decision = transition({
      steps: snapshot.steps,
      serverTools: snapshot.scope.tools.server,
      clientTools: snapshot.scope.parentStepId === null,
      maxIterations: limits.maxIterations,
      budget: {
        steps: limits.maxSteps - snapshot.tree.steps,
        toolCalls:
          maxToolCalls == null ? null : Math.max(0, maxToolCalls - snapshot.tree.toolCalls),
        expired:
          snapshot.response.deadlineAt !== null && snapshot.response.deadlineAt <= new Date(),
      },
    });
    return this.apply(snapshot, decision);
  }

  private async apply(snapshot: ScopeSnapshot, decision: Decision): Promise<boolean> {
    switch (decision.type) {
      case 'wait':
        return true;
      case 'append': {
        const { scope } = snapshot;
        const rows = await this.steps.appendRound(
          {
            responseId: scope.responseId,
            scopeId: scope.id,
            round: decision.round,
            steps: decision.steps,
            prevStepId: lastStep(snapshot.steps)?.id ?? null,
          },
          {
            maxSteps: this.config.config.limits.maxSteps,
            maxToolCalls: snapshot.response.request.max_tool_calls ?? null,
          },
        );
        if (rows === null) return false;
        if (rows.every((row) => isTerminalStep(row.status))) {
          // Every call of the round was refused by a cap: nothing to run, advance at once.
          await this.queue.advance(
            { responseId: scope.responseId, scopeId: scope.id },
            decision.round,
          );
          return true;
        }
        await this.dispatch(scope.responseId);
        return true;
      }
      case 'complete':
        await this.endScope(snapshot, { status: 'completed', output: decision.output });
        return true;
      case 'incomplete':
        await this.endScope(snapshot, {
          status: 'incomplete',
          output: decision.output,
          reason: decision.reason,
        });
        return true;
      case 'fail':
        await this.endScope(snapshot, { status: 'failed', output: [], error: decision.error });
        return true;
    }
  }

  /** Queues the response's pending steps as far as its concurrency limits allow. */
  private async dispatch(responseId: string): Promise<void> {
    const { limits } = this.config.config;
    const stepIds = await this.steps.dispatch(responseId, {
      perScope: limits.maxConcurrentStepsPerScope,
      perResponse: limits.maxConcurrentStepsPerResponse,
    });
    await this.queue.runSteps(responseId, stepIds);
  }

  /** A scope ended: the top scope ends the response; a child scope ends its agent step. */
  private async endScope(snapshot: ScopeSnapshot, end: ScopeEnd): Promise<void> {
    const { scope } = snapshot;
    if (scope.parentStepId === null) return this.endResponse(scope.responseId, end);

    await this.steps.closeScope(
      scope.id,
      end.status === 'completed' ? 'completed' : 'failed',
      end.output,
    );
    const parent = await this.steps.parentOf(scope.id);
    if (!parent) return;
    await this.recordOutcome(
      scope.responseId,
      parent.stepId,
      parent.scopeId,
      null,
      agentOutcome(end),
    );
  }

  private async endResponse(responseId: string, end: ScopeEnd): Promise<void> {
    const usage = sumUsage(await this.steps.responseUsage(responseId));
    const won = await this.responses.finish(responseId, {
      status: end.status,
      output: end.output,
      usage,
      error: end.status === 'failed' ? end.error : null,
      incompleteDetails: end.status === 'incomplete' ? { reason: end.reason } : null,
    });
    if (!won) return;
    if (end.status !== 'completed') {
      // A cap or failure can end the response while sub-agents still work: stop them.
      await this.steps.cancelOpenSteps(responseId);
      await this.bus.publishCancel(responseId);
    }
    await this.bus.publish({ type: 'terminal', responseId });
  }

  async runStep({ responseId, stepId }: JobPayload<'step.run'>): Promise<void> {
    const leaseMs = Math.max(STEP_LEASE_MS, this.config.config.limits.maxDurationMs);
    const claimed = await this.steps.claim(stepId, this.workerId, leaseMs);
    if (!claimed) return;
    const snapshot = await this.steps.loadScope(claimed.scopeId);
    if (!snapshot) return;
    const execution = await this.inFlight.run(responseId, snapshot.response.deadlineAt, (signal) =>
      this.executor.execute(snapshot, claimed.step, signal),
    );
    if (execution.type === 'delegated') return;
    await this.recordOutcome(
      responseId,
      stepId,
      claimed.scopeId,
      claimed.attempt,
      execution.outcome,
    );
  }

  /** Records a step's outcome; the sibling that completes a round advances the scope. */
  private async recordOutcome(
    responseId: string,
    stepId: string,
    scopeId: string,
    attempt: number | null,
    outcome: StepOutcome,
  ): Promise<void> {
    const { recorded, roundComplete, round } = await this.steps.finish(
      stepId,
      scopeId,
      attempt,
      outcome,
    );
    if (!recorded) return;
    if (roundComplete) await this.queue.advance({ responseId, scopeId }, round);
    else await this.dispatch(responseId);
  }
}

/** What an agent step records when its scope ends: its final text, or why it stopped. */
function agentOutcome(end: ScopeEnd): StepOutcome {
  switch (end.status) {
    case 'completed':
      return { status: 'completed', result: finalText(end.output) };
    case 'incomplete':
      return {
        status: 'failed',
        error: { code: end.reason, message: `The agent stopped before finishing (${end.reason}).` },
      };
    case 'failed':
      return { status: 'failed', error: end.error };
  }
}

function lastStep(steps: readonly StepRecord[]): StepRecord | undefined {
  return steps.reduce<StepRecord | undefined>(
    (last, step) =>
      !last || step.round > last.round || (step.round === last.round && step.index > last.index)
        ? step
        : last,
    undefined,
  );
}
