import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, type ToolConfig } from '@ratchet/config';
import {
  conversationBefore,
  includesEncryptedReasoning,
  mcpToolOf,
  scopeRouting,
  type FunctionTool,
  type ModelStepResult,
  shapeModelOutput,
  storableJson,
  summarizeReasoning,
  type StepRecord,
  type StepTruncation,
} from '@ratchet/core';
import {
  callWithResilience,
  DEFAULT_RETRY_POLICY,
  estimateTokens,
  inputChars,
  ProviderRegistry,
  resolveTargets,
  UpstreamError,
  type ModelCallRequest,
  type ModelDelta,
  type ResolvedTarget,
} from '@ratchet/providers';
import {
  childScopeId,
  RecoveryRepository,
  StepsRepository,
  type ScopeSnapshot,
  type StepOutcome,
} from '@ratchet/store';
import { HttpToolClient, resolveAgentTools } from '@ratchet/tools';
import { StepAbort } from './in-flight.registry';
import { McpTools } from './mcp-tools';
import { fitToContextWindow, textFormatForModel, toolsForModel } from './model-call';
import { StreamEvents, type ModelStream } from './stream-events';
import { UsageMeter } from './usage-meter';

/**
 * A finished step's outcome, to record. `recorded` ends what the step streamed once the
 * outcome is (or is not) recorded: a streamed model call's items all take their place in the
 * log before its outcome is recorded and are logged done only after, so an attempt whose
 * worker dies before recording leaves them open, and the attempt that runs instead closes
 * them `incomplete`; one that dies just after leaves them for the log's end to finish as the
 * output has them. An agent step's outcome
 * arrives later, when the child scope it opened finishes.
 */
export type Execution =
  | { type: 'finished'; outcome: StepOutcome; recorded?: AfterRecord }
  | { type: 'delegated'; childScopeId: string };

/** Ends what a step streamed, once its outcome is recorded or refused (see Execution). */
export type AfterRecord = (recorded: boolean) => Promise<void>;

/** Runs one claimed step: a model call, an http tool call, or the start of a sub-agent. */
@Injectable()
export class StepExecutor {
  private readonly logger = new Logger(StepExecutor.name);

  constructor(
    private readonly config: AppConfig,
    private readonly providers: ProviderRegistry,
    private readonly tools: HttpToolClient,
    private readonly steps: StepsRepository,
    private readonly stream: StreamEvents,
    private readonly recovery: RecoveryRepository,
    private readonly mcpTools: McpTools,
  ) {}

  async execute(
    snapshot: ScopeSnapshot,
    step: StepRecord,
    attempt: number | null,
    signal: AbortSignal,
  ): Promise<Execution> {
    return this.guarded(step, signal, () => {
      switch (step.kind) {
        case 'model_call':
          return this.runModel(snapshot, step, attempt ?? 1, signal);
        case 'tool_call':
          return this.runTool(step, signal, () => Promise.resolve(snapshot));
        case 'agent_call':
          return this.startAgent(snapshot, step);
      }
    });
  }

  /**
   * A tool call. An http tool needs nothing of its scope; an MCP tool reads it (`scopeId`),
   * for its server and the tool its function name stands for.
   */
  executeTool(step: StepRecord, scopeId: string, signal: AbortSignal): Promise<Execution> {
    return this.guarded(step, signal, () =>
      this.runTool(step, signal, () => this.steps.loadScope(scopeId)),
    );
  }

  private async guarded(
    step: StepRecord,
    signal: AbortSignal,
    run: () => Promise<Execution>,
  ): Promise<Execution> {
    try {
      return await run();
    } catch (error) {
      if (signal.aborted) return finished(abortedOutcome(signal));
      if (error instanceof UpstreamError) {
        return finished({ status: 'failed', error: { code: error.code, message: error.message } });
      }
      // Ratchet's own trouble (Postgres or Redis away, a bug) is not the step's outcome: the
      // step is tried again, and fails only after its attempts run out (the engine logs it).
      throw error;
    }
  }

  private async runTool(
    step: StepRecord,
    signal: AbortSignal,
    scope: () => Promise<ScopeSnapshot | null>,
  ): Promise<Execution> {
    if (this.configuredTool(step.name ?? '')?.type === 'http') {
      return finished(await this.callTool(step, signal));
    }
    const snapshot = await scope();
    if (!snapshot) return finished(await this.callTool(step, signal));
    const target = mcpToolOf(scopeRouting(snapshot.scope, snapshot.steps), step.name ?? '');
    if (!target) return finished(await this.callTool(step, signal));
    return finished(await this.mcpTools.call(snapshot, target, step, signal));
  }

  /**
   * A model call. Its items stream to the response's event log when it has one, and a call
   * cut short (cancelled, or given up after its stream broke) records estimated usage, since
   * the upstream never reported any.
   */
  private async runModel(
    snapshot: ScopeSnapshot,
    step: StepRecord,
    attempt: number,
    signal: AbortSignal,
  ): Promise<Execution> {
    const stream = await this.stream.modelStream(snapshot, step, attempt);
    const logBudget = stream
      ? new EventLogBudget(
          await this.stream.loggedBytes(snapshot.response.id),
          this.config.config.limits.maxEventLogBytes,
        )
      : null;
    if (logBudget?.spent()) {
      await stream?.abandon();
      return finished({ status: 'failed', error: logBudget.error() });
    }
    const listed = await this.mcpTools.list(snapshot, step, signal);
    await stream?.listings(listed.listings);
    if (listed.collision) {
      await stream?.abandon();
      return finished({
        status: 'failed',
        error: { code: listed.collision.code, message: listed.collision.message },
      });
    }
    const meter = new UsageMeter();
    // An earlier attempt died mid-stream with its worker: what it streamed was paid for.
    if (stream && stream.earlierChars > 0) meter.earlierAttempt(stream.earlierChars);
    let outcome: StepOutcome;
    try {
      // What the model said is stored (and streamed as done) as the store can hold it.
      outcome = storableJson(
        await this.callModel(
          snapshot,
          step,
          signal,
          stream,
          meter,
          attempt,
          logBudget,
          listed.definitions,
        ),
      );
      if (outcome.status === 'completed' && listed.listings.length > 0) {
        const made = outcome.result as ModelStepResult;
        outcome = { ...outcome, result: { ...made, listings: listed.listings } };
      }
    } catch (error) {
      await stream?.abandon().catch(() => undefined);
      if (signal.aborted) {
        const usage = meter.cutShort();
        await this.steps
          .recordCutShortUsage({ id: step.id, attempt, responseId: snapshot.response.id }, usage)
          .catch(() => undefined);
        return finished({ ...abortedOutcome(signal), usage });
      }
      if (error instanceof UpstreamError) {
        return finished({
          status: 'failed',
          error: { code: error.code, message: error.message },
          usage: meter.streamed(),
        });
      }
      throw error;
    }
    const result = outcome.result;
    if (!stream) return finished(outcome);
    if (
      outcome.status !== 'completed' ||
      result === null ||
      typeof result !== 'object' ||
      !('output' in result)
    ) {
      await stream.abandon();
      return finished(outcome);
    }
    await stream.announce(result.output);
    return {
      type: 'finished',
      outcome,
      recorded: (recorded) => (recorded ? stream.finish(result.output) : stream.abandon()),
    };
  }

  private async callModel(
    snapshot: ScopeSnapshot,
    step: StepRecord,
    signal: AbortSignal,
    stream: ModelStream | null,
    meter: UsageMeter,
    claimedAttempt: number | null,
    logBudget: EventLogBudget | null,
    mcpDefinitions: readonly FunctionTool[] = [],
  ): Promise<StepOutcome> {
    const { scope, response } = snapshot;
    const request = response.request;
    const topScope = scope.parentStepId === null;
    const toolCallsLeft =
      request.max_tool_calls == null
        ? null
        : Math.max(0, request.max_tool_calls - snapshot.tree.toolCalls);
    const offered = [...scope.tools.definitions, ...mcpDefinitions];
    const { tools, toolChoice } = toolsForModel(offered, request, {
      topScope,
      round: step.round,
      toolCallsLeft,
    });
    const parallelToolCalls = topScope ? (request.parallel_tool_calls ?? true) : true;
    const input = conversationBefore(scope.input, snapshot.steps, step.round);
    meter.input(estimateTokens(inputChars({ instructions: scope.instructions, input })));
    // Truncation is the client's choice for its conversation: the top scope's, per model tried.
    const truncates = topScope && request.truncation === 'auto';
    const truncations = new Map<string, StepTruncation | null>();
    const { result, model: answered } = await callWithResilience(
      resolveTargets(this.providers, scope.model),
      {
        model: scope.model,
        instructions: scope.instructions,
        input,
        tools,
        toolChoice,
        parallelToolCalls,
        maxOutputTokens: topScope ? (request.max_output_tokens ?? null) : null,
        temperature: topScope ? (request.temperature ?? null) : null,
        topP: topScope ? (request.top_p ?? null) : null,
        textFormat: topScope ? textFormatForModel(request) : null,
        reasoningEffort: topScope ? (request.reasoning?.effort ?? null) : null,
        promptCacheKey: topScope ? (request.prompt_cache_key ?? null) : null,
        verbosity: topScope ? (request.text?.verbosity ?? null) : null,
        // The end user is the same for every call the response makes, sub-agents' included.
        user: request.user ?? null,
        safetyIdentifier: request.safety_identifier ?? null,
        includeEncryptedReasoning: topScope && includesEncryptedReasoning(request.include),
        signal,
        ...(stream
          ? {
              onDelta: (delta: ModelDelta) => {
                // Throws (stopping the upstream call) once the response's log would be too big.
                logBudget?.spend(delta.delta);
                meter.delta(delta.delta);
                // Streamed as it will be stored, so the items it builds match the output.
                stream.onDelta(storableJson(delta));
              },
            }
          : {}),
      },
      {
        policy: DEFAULT_RETRY_POLICY,
        ...(truncates
          ? {
              prepare: (target: ResolvedTarget, call: ModelCallRequest) => {
                const model = { name: target.name, config: this.config.config.models[target.name] };
                const fitted = fitToContextWindow(call, model);
                truncations.set(target.name, fitted.truncation);
                // A call cut short is estimated as what it sent.
                meter.input(estimateTokens(inputChars(fitted.request)));
                return fitted.request;
              },
            }
          : {}),
        ...(stream
          ? {
              onAbandon: () => {
                meter.abandon();
                stream.onAbandon();
              },
            }
          : {}),
        onAttempt: ({ model, attempt, error, delayMs }) => {
          this.logger.warn(
            `step ${step.id}: model '${model}' attempt ${attempt} failed (${error.code}: ${error.message})` +
              (delayMs === null ? '; moving on' : `; retrying in ${delayMs} ms`),
          );
          if (delayMs === null || claimedAttempt === null) return;
          const until = new Date(Date.now() + delayMs).toISOString();
          const backoff = { until, model, attempt, code: error.code, message: error.message };
          // Only for people watching: a lost write hides the reason, nothing else.
          this.recovery
            .recordBackoff(snapshot.response.id, step.id, claimedAttempt, backoff)
            .catch(() => undefined);
        },
      },
    );
    const usage = meter.withAbandoned(result.usage);
    const shaped = shapeModelOutput(result.output, toolChoice, parallelToolCalls);
    if ('error' in shaped) return { status: 'failed', error: shaped.error, usage };
    const output = request.reasoning?.summary ? summarizeReasoning(shaped.output) : shaped.output;
    const truncation = truncations.get(answered) ?? null;
    return {
      status: 'completed',
      result: { output, finishReason: result.finishReason, ...(truncation ? { truncation } : {}) },
      usage,
    };
  }

  private async callTool(step: StepRecord, signal: AbortSignal): Promise<StepOutcome> {
    const name = step.name ?? '';
    const tool = this.configuredTool(name);
    if (tool?.type !== 'http') {
      return {
        status: 'failed',
        error: { code: 'tool_not_found', message: `No http tool named '${name}' is configured.` },
      };
    }
    const outcome = await this.tools.call(
      tool,
      { stepId: step.id, name, arguments: step.arguments ?? '' },
      signal,
    );
    return outcome.ok
      ? { status: 'completed', result: outcome.output }
      : { status: 'failed', error: outcome.error };
  }

  private configuredTool(name: string): ToolConfig | undefined {
    const { tools } = this.config.config;
    return Object.hasOwn(tools, name) ? tools[name] : undefined;
  }

  /**
   * Opens the agent's own scope one level deeper; the step completes when that scope
   * finishes. A call that would nest deeper than maxDepth fails instead, so the calling
   * model hears why and goes on.
   */
  private async startAgent(snapshot: ScopeSnapshot, step: StepRecord): Promise<Execution> {
    const name = step.name ?? '';
    const agent = this.configuredTool(name);
    if (agent?.type !== 'agent') {
      return finished({
        status: 'failed',
        error: { code: 'tool_not_found', message: `No agent named '${name}' is configured.` },
      });
    }
    const depth = snapshot.scope.depth + 1;
    const { maxDepth } = this.config.config.limits;
    if (depth > maxDepth) {
      return finished({
        status: 'failed',
        error: {
          code: 'max_depth',
          message: `Agent '${name}' was not started: agents may nest ${maxDepth} level(s) deep.`,
        },
      });
    }
    const task = agentTask(step.arguments);
    if (task === null) {
      return finished({
        status: 'failed',
        error: {
          code: 'invalid_arguments',
          message: `Agent '${name}' takes {"input": "<task>"}; the arguments were not that.`,
        },
      });
    }
    const scopeId = childScopeId(step.id);
    await this.steps.openChildScope({
      id: scopeId,
      responseId: snapshot.scope.responseId,
      parentStepId: step.id,
      depth,
      model: agent.model,
      instructions: agent.instructions ?? null,
      input: [
        {
          type: 'message',
          id: `msg_${step.id.replace(/^step_/, '')}`,
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: task }],
        },
      ],
      tools: resolveAgentTools(this.config.config, agent.tools),
    });
    return { type: 'delegated', childScopeId: scopeId };
  }
}

/**
 * A finished step. Its outcome is made storable here (NUL and lone surrogates become U+FFFD,
 * see storableText): a tool's answer or an upstream's error message may hold what Postgres
 * cannot, and a write that fails would only be retried until the step's attempts run out.
 */
/**
 * Bytes a delta event adds to the log beside its text: its type, ids, indexes and sequence
 * number (about 170 bytes for a text delta), rounded up.
 */
const DELTA_EVENT_BYTES = 200;

/**
 * limits.maxEventLogBytes for one streamed model call: the log's size when the call starts,
 * plus what each delta adds. Tool outputs and the closing events are counted when the next
 * model call starts, so a log may pass the limit by those before the response is stopped.
 */
class EventLogBudget {
  constructor(
    private logged: number,
    private readonly maxBytes: number,
  ) {}

  spent(): boolean {
    return this.logged >= this.maxBytes;
  }

  spend(text: string): void {
    this.logged += Buffer.byteLength(text, 'utf8') + DELTA_EVENT_BYTES;
    if (this.logged > this.maxBytes) {
      throw new UpstreamError(this.error().message, { code: this.error().code, retryable: false });
    }
  }

  error(): { code: string; message: string } {
    return {
      code: 'max_event_log_bytes',
      message: `The response's event log reached its limit of ${this.maxBytes} bytes (limits.maxEventLogBytes), so the model call was stopped.`,
    };
  }
}

function finished(outcome: StepOutcome): Execution {
  return { type: 'finished', outcome: storableJson(outcome) };
}

function abortedOutcome(signal: AbortSignal): StepOutcome {
  const reason: unknown = signal.reason;
  if (reason instanceof StepAbort && reason.kind === 'deadline') {
    return {
      status: 'failed',
      error: { code: 'max_duration', message: 'The response ran out of time during this step.' },
    };
  }
  return { status: 'cancelled' };
}

/** The task text of agent arguments `{"input": "..."}`, or null when they are not that. */
function agentTask(argumentsText: string | null): string | null {
  try {
    const parsed: unknown = JSON.parse(argumentsText || '{}');
    if (parsed !== null && typeof parsed === 'object' && 'input' in parsed) {
      const input = parsed.input;
      if (typeof input === 'string') return input;
    }
  } catch {
    // not JSON
  }
  return null;
}
