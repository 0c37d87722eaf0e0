import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  conversationBefore,
  isTerminalStatus,
  isTerminalStep,
  sumUsage,
  transition,
  type Decision,
  type StepRecord,
} from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { ProviderRegistry, UpstreamError } from '@ratchet/providers';
import { JobQueue, type JobPayload } from '@ratchet/queue';
import {
  ResponsesRepository,
  StepsRepository,
  type ScopeSnapshot,
  type StepOutcome,
  type TerminalUpdate,
} from '@ratchet/store';
import { textFormatForModel, toolsForModel } from './model-call';

/** How long a claimed step is ours before another worker may take it over. */
const STEP_LEASE_MS = 5 * 60_000;

/**
 * Drives responses: `advance` asks the transition function what a scope does next and
 * records it; `runStep` executes one recorded step and, when its round is complete, queues
 * the scope's next advance. Both are safe to run twice for the same input.
 */
@Injectable()
export class EngineService {
  private readonly logger = new Logger(EngineService.name);
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  constructor(
    private readonly config: AppConfig,
    private readonly responses: ResponsesRepository,
    private readonly steps: StepsRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
    private readonly providers: ProviderRegistry,
  ) {}

  async advance({ responseId, scopeId }: JobPayload<'scope.advance'>): Promise<void> {
    const snapshot = await this.steps.loadScope(scopeId);
    if (!snapshot || isTerminalStatus(snapshot.response.status)) return;
    if (snapshot.scope.parentStepId === null && snapshot.response.status === 'queued') {
      await this.responses.markInProgress(responseId);
    }
    const decision = transition({
      steps: snapshot.steps,
      serverTools: snapshot.scope.tools.server,
      maxIterations: this.config.config.limits.maxIterations,
    });
    await this.apply(snapshot, decision);
  }

  private async apply(snapshot: ScopeSnapshot, decision: Decision): Promise<void> {
    const { scope } = snapshot;
    switch (decision.type) {
      case 'wait':
        return;
      case 'append': {
        const previous = lastStep(snapshot.steps);
        const rows = await this.steps.appendRound(
          scope.responseId,
          scope.id,
          decision.round,
          decision.steps,
          previous?.id ?? null,
        );
        const runnable = rows.filter((row) => !isTerminalStep(row.status)).map((row) => row.id);
        await this.queue.runSteps(scope.responseId, runnable);
        return;
      }
      case 'complete':
        return this.finishScope(snapshot, { status: 'completed', output: decision.output });
      case 'incomplete':
        return this.finishScope(snapshot, {
          status: 'incomplete',
          output: decision.output,
          incompleteDetails: { reason: decision.reason },
        });
      case 'fail':
        return this.finishScope(snapshot, { status: 'failed', output: [], error: decision.error });
    }
  }

  private async finishScope(
    snapshot: ScopeSnapshot,
    terminal: Omit<TerminalUpdate, 'usage'>,
  ): Promise<void> {
    const { scope } = snapshot;
    if (scope.parentStepId !== null) {
      throw new Error(`scope ${scope.id}: sub-agent scopes are not supported yet`);
    }
    const usage = sumUsage(await this.steps.responseUsage(scope.responseId));
    const won = await this.responses.finish(scope.responseId, { ...terminal, usage });
    if (won) await this.bus.publish({ type: 'terminal', responseId: scope.responseId });
  }

  async runStep({ responseId, stepId }: JobPayload<'step.run'>): Promise<void> {
    const claimed = await this.steps.claim(stepId, this.workerId, STEP_LEASE_MS);
    if (!claimed) return;
    const snapshot = await this.steps.loadScope(claimed.scopeId);
    if (!snapshot) return;
    const outcome = isTerminalStatus(snapshot.response.status)
      ? ({ status: 'cancelled' } satisfies StepOutcome)
      : await this.execute(snapshot, claimed.step);
    const { recorded, roundComplete } = await this.steps.finish(
      stepId,
      claimed.scopeId,
      claimed.attempt,
      outcome,
    );
    if (recorded && roundComplete) {
      await this.queue.advance({ responseId, scopeId: claimed.scopeId }, claimed.step.round);
    }
  }

  private async execute(snapshot: ScopeSnapshot, step: StepRecord): Promise<StepOutcome> {
    switch (step.kind) {
      case 'model_call':
        return this.callModel(snapshot, step);
      case 'tool_call':
      case 'agent_call':
        return {
          status: 'failed',
          error: {
            code: 'tool_error',
            message: `Tool '${step.name}' cannot be run by this worker.`,
          },
        };
    }
  }

  private async callModel(snapshot: ScopeSnapshot, step: StepRecord): Promise<StepOutcome> {
    const { scope, response } = snapshot;
    const request = response.request;
    const { tools, toolChoice } = toolsForModel(scope.tools.definitions, request.tool_choice);
    try {
      const target = this.providers.resolve(scope.model);
      const result = await target.provider.call({
        model: target.upstreamModel,
        instructions: scope.instructions,
        input: conversationBefore(scope.input, snapshot.steps, step.round),
        tools,
        toolChoice,
        parallelToolCalls: request.parallel_tool_calls ?? true,
        maxOutputTokens: request.max_output_tokens ?? null,
        temperature: request.temperature ?? null,
        topP: request.top_p ?? null,
        textFormat: textFormatForModel(request),
      });
      return {
        status: 'completed',
        result: { output: result.output, finishReason: result.finishReason },
        usage: result.usage,
      };
    } catch (error) {
      if (error instanceof UpstreamError) {
        return { status: 'failed', error: { code: error.code, message: error.message } };
      }
      this.logger.error(`model step ${step.id} failed unexpectedly`, error as Error);
      return {
        status: 'failed',
        error: { code: 'server_error', message: 'The model call failed inside ratchet.' },
      };
    }
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
