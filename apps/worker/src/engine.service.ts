import { setTimeout as delay } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  compactOutput,
  finalText,
  firstDecision,
  isTerminalStatus,
  isTerminalStep,
  scopeRouting,
  transition,
  type Decision,
  type Item,
  type NewStep,
  type ResponseRecord,
  type StepError,
  type StepRecord,
} from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { JobQueue, type JobPayload } from '@ratchet/queue';
import {
  RecoveryRepository,
  ResponsesRepository,
  StepsRepository,
  type AppendBudget,
  type AppendResult,
  type CarriedScope,
  type ClaimedStep,
  type InlineClaim,
  type NewRound,
  type ResponseEnd,
  topScopeId,
  type ScopeSnapshot,
  type StepOutcome,
} from '@ratchet/store';
import { agentEnded, observeStep, responseEnded } from '@ratchet/telemetry';
import { ApprovalPause } from './approval-pause';
import { DrainState } from './drain-state';
import { FirstTake, RECORD_WAITS_MS } from './first-take';
import { InFlightRegistry } from './in-flight.registry';
import { LeaseKeeper } from './lease-keeper';
import { RoundSlots, type Slot } from './round-slots';
import { Liveness } from './liveness.service';
import { StepExecutor, type AfterRecord, type Execution } from './step-executor';
import { StreamEvents } from './stream-events';
import { WorkerSlots } from './worker-slots';

/** Decisions tried for one advance before it fails (and BullMQ retries it). */
const MAX_DECISIONS = 5;

/**
 * Runs of one step before it fails for good: each worker that claimed it either died or hit
 * an error of ratchet's own (not the model's or the tool's, which are outcomes). Generous,
 * since deploys and crashes may cut a step several times; finite, so a step that kills every
 * worker that runs it does not go on forever.
 */
const MAX_STEP_ATTEMPTS = 10;

/** For a step that streamed nothing: nothing to end once it is recorded. */
const noStream: AfterRecord = () => Promise.resolve();

/**
 * How long a sibling's outcome waits for the rest of its round, when the whole round runs in
 * this job, so that all of them and what follows go in one statement: this long after it
 * finished, or after the round's last sibling started, whichever is later. On a busy worker
 * the siblings run one after another in the slots the job holds (RoundSlots); counted from
 * the first outcome alone, the wait gave up on most rounds of a burst of fan-outs, whose
 * outcomes then took a statement each (docs/cpu.md, "Rounds that run one after another").
 */
const ROUND_HOLD_MS = 20;

/**
 * The longest a sibling's outcome waits for the rest of its round in all, however long they
 * wait for slots. A round still running after that has each outcome recorded as it comes, so
 * a step's result is never held in memory for long.
 */
const ROUND_HOLD_LIMIT_MS = 250;

/**
 * How long a sibling that a busy worker kept waits for one of its slots to come free before
 * it goes to the queue instead, for any worker. Under a burst, the slots of quick steps turn
 * over far sooner; a round of long calls on a busy worker reaches idle workers this much later.
 * While jobs wait in the queue, no worker is idle, and the sibling waits on (WorkerSlots).
 */
const SIBLING_WAIT_MS = 50;

/** How a scope ended, in the terms its parent (the response or an agent step) needs. */
type ScopeEnd =
  | { status: 'completed'; output: Item[] }
  | { status: 'incomplete'; output: Item[]; reason: string }
  | { status: 'failed'; output: Item[]; error: StepError };

/** A claimed step to run next in this job, with the scope as it was decided on. */
interface Continuation {
  claimed: ClaimedStep;
  snapshot: ScopeSnapshot;
  /**
   * The step took over the slot of the step before it (a single-step round run in the same
   * job), rather than a slot the dispatcher handed out.
   */
  inline: boolean;
  /**
   * Siblings of `claimed` in a round of several, claimed with it to run beside it here, each
   * in a slot borrowed from WorkerSlots; the last `waiting` of them have none yet and wait for
   * one (RoundSlots), or go to the queue.
   */
  siblings: ClaimedStep[];
  waiting: number;
  /** `claimed` and `siblings` are all the round runs: none of it went to the queue. */
  wholeRound: boolean;
}

/** A step run here, finished, with what ends its stream once its outcome is recorded. */
interface Finish {
  claimed: ClaimedStep;
  outcome: StepOutcome;
  recorded: AfterRecord;
}

/**
 * An InlineClaim with the slots borrowed for it (one step runs in the job's own slot) and the
 * siblings reserved a place in line for the next free ones.
 */
type Claim = InlineClaim & { borrowed: number; reserved: number };

/**
 * Drives responses. `advance` asks the transition function what a scope does next and
 * records it; `runStep` executes a recorded step. When a round completes, the job that
 * finished it decides the next round at once, and when that round is a single model or
 * tool call, runs it too: a sequential chain runs in one job, with no queue hop between
 * steps. Of a round of several tool calls, the job runs as many as this worker has free
 * slots for, one in its own, and dispatches the rest to the queue, to run on any worker.
 *
 * Everything is safe to run twice: steps have a deterministic identity, results are fenced
 * by attempt, terminal states are conditional.
 */
@Injectable()
export class EngineService {
  private readonly leaseMs: number;
  /**
   * How long a new response's first step job is fresh: taken sooner, the step it names runs
   * before it is claimed (runFirst). Well within the time after which recovery queues a
   * pending step again (RATCHET_SWEEP_GRACE_MS), so that the claim, FIRST_TAKE_AFTER_MS into
   * the call, comes first; an older job's step is claimed before it runs, as any queued step.
   */
  private readonly freshForMs: number;
  /** Steps run before they are claimed (runFirst), with what claims them. */
  private readonly firstTakes = new WeakMap<ClaimedStep, FirstTake>();
  private readonly logger = new Logger(EngineService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly responses: ResponsesRepository,
    private readonly steps: StepsRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
    private readonly executor: StepExecutor,
    private readonly inFlight: InFlightRegistry,
    private readonly stream: StreamEvents,
    private readonly leases: LeaseKeeper,
    private readonly recovery: RecoveryRepository,
    private readonly liveness: Liveness,
    private readonly drain: DrainState,
    private readonly pause: ApprovalPause,
    private readonly slots: WorkerSlots,
  ) {
    this.leaseMs = leases.leaseMs;
    this.freshForMs = Math.min(this.leaseMs, config.env.RATCHET_SWEEP_GRACE_MS) / 4;
  }

  /** What this worker claims steps as: the id of its liveness session. */
  get workerId(): string {
    return this.liveness.workerId;
  }

  /** Job: decide for a scope (a new response, a new sub-agent, or a completed round). */
  async advance({
    scopeId,
    responseId,
    beforeCommit = false,
  }: JobPayload<'scope.advance'>): Promise<void> {
    await this.liveness.ready();
    // A new response's first round is recorded without reading its scope first.
    const started =
      scopeId === topScopeId(responseId)
        ? await this.startRecorded(responseId, scopeId, beforeCommit)
        : null;
    if (started === 'missing') return;
    // A fresh scope's first model call may run inline only at the top: a sub-agent's must
    // take a slot of the response's concurrency limit like any dispatched step.
    const next =
      started ?? (await this.decide(scopeId, (snapshot) => snapshot.scope.parentStepId === null));
    if (next) await this.runChain(next);
  }

  /**
   * `start`, for a job queued before its response was committed (`beforeCommit`) tried again
   * until the response is there, or RECORD_WAITS_MS run out.
   */
  private async startRecorded(
    responseId: string,
    scopeId: string,
    beforeCommit: boolean,
  ): Promise<Continuation | 'missing' | null> {
    let started = await this.start(responseId, scopeId);
    for (const wait of beforeCommit ? RECORD_WAITS_MS : []) {
      if (started !== 'missing') return started;
      await delay(wait);
      started = await this.start(responseId, scopeId);
    }
    if (started === 'missing' && beforeCommit) this.neverRecorded(responseId);
    return started;
  }

  /** A new response's job ran out of RECORD_WAITS_MS waiting for the response to be there. */
  private neverRecorded(responseId: string): void {
    this.logger.warn({
      msg: `response ${responseId} was queued while it was being created, and is still not recorded; its create failed, or recovery will run it once it is`,
      responseId,
    });
  }

  /**
   * The first round of a new response. The transition decides it from an empty scope, which
   * needs nothing read: the round is recorded (claimed, to run here) in the statement that
   * reads the scope. Null when the scope turns out not to be new (a job run again, or
   * requeued by the sweeper): the caller reads it and decides as usual. `missing` when there
   * is no such response (not yet committed, deleted, or never created).
   */
  private async start(
    responseId: string,
    scopeId: string,
  ): Promise<Continuation | 'missing' | null> {
    const { limits } = this.config.config;
    const decision = firstDecision(limits);
    // A draining worker runs nothing new here: decide() records the round for the queue.
    if (decision.type !== 'append' || decision.steps.length !== 1 || this.drain.draining) {
      return null;
    }
    const claim = this.inlineClaim(decision.steps, true);
    const started = await this.steps.appendFirstRound(
      { responseId, scopeId, round: decision.round, steps: decision.steps },
      { maxSteps: limits.maxSteps, maxToolCalls: null },
      claim,
    );
    if (started === 'missing') return started;
    const mine = started?.steps.find((step) => step.index === claim?.indexes[0]);
    if (!started || !mine || !claim) return null;
    this.bus.publishChange(responseId);
    // Streamed responses log response.in_progress before the first step streams anything.
    await this.stream.beforeDecision({ ...started.snapshot, steps: [] });
    return {
      claimed: {
        step: mine,
        scopeId,
        responseId,
        attempt: 1,
        owner: claim.owner,
        deadlineAt: started.snapshot.response.deadlineAt,
      },
      snapshot: started.snapshot,
      inline: true,
      siblings: [],
      waiting: 0,
      wholeRound: true,
    };
  }

  /**
   * Job: run one dispatched step (and whatever it leads to inline). `queuedAt`: when the job
   * was queued, by its producer's clock (BullMQ's timestamp).
   */
  async runStep(
    { responseId, stepId, scope }: JobPayload<'step.run'>,
    queuedAt: number | null = null,
  ): Promise<void> {
    await this.liveness.ready();
    if (scope && queuedAt !== null && Date.now() - queuedAt < this.freshForMs) {
      // Produced by the API from the scope it records (firstStepOf in libs/store).
      return this.runFirst(responseId, stepId, scope as CarriedScope);
    }
    const claimed = await this.steps.claim(responseId, stepId, this.workerId, this.leaseMs);
    if (!claimed) return;
    if (claimed.attempt > MAX_STEP_ATTEMPTS) {
      const outcome: StepOutcome = {
        status: 'failed',
        error: {
          code: 'server_error',
          message: `The ${claimed.step.kind} was tried ${MAX_STEP_ATTEMPTS} times and never finished.`,
        },
      };
      this.logStopped(claimed.responseId, claimed.step, claimed.attempt, outcome);
      await this.recordOutcome(claimed.responseId, stepId, claimed.attempt, outcome).then(
        (next) => next && this.runChain(next),
      );
      return;
    }
    if (claimed.step.kind === 'tool_call') {
      // A tool call needs nothing of its scope, which is read only if it completes its round:
      // a sibling costs the same however long the scope's chain has grown.
      const execution = await this.execute(claimed, (signal) =>
        this.executor.executeTool(claimed.step, claimed.scopeId, signal),
      );
      if (execution?.type !== 'finished') return;
      const next = await this.recordOutcome(
        claimed.responseId,
        stepId,
        claimed.attempt,
        execution.outcome,
      );
      if (next) await this.runChain(next);
      return;
    }
    const snapshot = await this.steps.loadScope(claimed.scopeId);
    if (!snapshot) return;
    await this.runChain({
      claimed,
      snapshot,
      inline: false,
      siblings: [],
      waiting: 0,
      wholeRound: false,
    });
  }

  /**
   * A new response's first model call, from a fresh job that carries its scope: run before it
   * is claimed, which its outcome's statement does (continueInline), or a FirstTake once it
   * runs long. Then on as any chain.
   */
  private async runFirst(responseId: string, stepId: string, carried: CarriedScope): Promise<void> {
    const { step, snapshot } = this.steps.firstStep(responseId, stepId, carried);
    const claimed: ClaimedStep = {
      step,
      scopeId: snapshot.scope.id,
      responseId,
      attempt: 1,
      owner: this.workerId,
      deadlineAt: snapshot.response.deadlineAt,
    };
    const take = new FirstTake(claimed, async () => {
      const taken = await this.steps.claimOrMissing(
        responseId,
        stepId,
        this.workerId,
        this.leaseMs,
      );
      // A background response starts with its first call's claim (the claim's `started`).
      if (taken && taken !== 'missing' && carried.request.background) {
        this.bus.publishChange(responseId);
      }
      return taken;
    });
    this.firstTakes.set(claimed, take);
    try {
      await this.runChain({
        claimed,
        snapshot,
        inline: true,
        siblings: [],
        waiting: 0,
        wholeRound: true,
      });
    } finally {
      take.stop();
      if (take.missing) this.neverRecorded(responseId);
    }
  }

  /** Runs a step, records it, and carries on with whatever can run inline after it. */
  private async runChain(first: Continuation): Promise<void> {
    let next: Continuation | null = first;
    while (next) {
      if (next.siblings.length > 0) {
        next = await this.runSiblings(next);
        continue;
      }
      const { claimed, snapshot } = next;
      const execution = await this.execute(
        claimed,
        (signal) => this.executor.execute(snapshot, claimed.step, claimed.attempt, signal),
        snapshot.scope.model,
      );
      if (execution === null) return;
      if (execution.type === 'delegated') {
        // A sub-agent started in a slot handed over inline carries on in it; one started by
        // the dispatcher queues its scope, whose first step then waits for a slot.
        if (next.inline) {
          next = await this.decide(execution.childScopeId, () => true);
        } else {
          await this.queue.advance(
            { responseId: claimed.responseId, scopeId: execution.childScopeId },
            'start',
          );
          next = null;
        }
        continue;
      }
      const recorded = execution.recorded ?? noStream;
      next = next.inline
        ? await this.continueInline(snapshot, [{ claimed, outcome: execution.outcome, recorded }])
        : await this.recordOutcome(
            claimed.responseId,
            claimed.step.id,
            claimed.attempt,
            execution.outcome,
            recorded,
          );
    }
  }

  /**
   * Runs the tool calls of a round claimed together, at once. When they are the whole round
   * and all finish within the hold (ROUND_HOLD_MS, ROUND_HOLD_LIMIT_MS), their outcomes and
   * what the scope does next are recorded in one statement (continueInline). Otherwise each
   * is recorded as it finishes (outcomes that arrive together go in one statement), and the
   * one that completes the round decides the next, which carries on here. Should one fail
   * inside ratchet, the others still finish, and its error fails the job after them.
   */
  private async runSiblings(next: Continuation): Promise<Continuation | null> {
    const { snapshot } = next;
    const steps = [next.claimed, ...next.siblings];
    const held: Finish[] = [];
    let holding = next.wholeRound;
    let release: () => void = () => undefined;
    // Resolved when every outcome is held, or holding was given up.
    const released = new Promise<void>((resolve) => (release = resolve));
    const stopHolding = (): void => {
      holding = false;
      release();
    };
    let toStart = steps.length;
    let allStarted: () => void = () => undefined;
    // Resolved once every sibling has started (a sibling that does not stops the holding).
    const running = new Promise<void>((resolve) => (allStarted = resolve));
    // The first runs in this job's slot, the next in borrowed ones, the last `waiting` wait.
    const slots = new RoundSlots(this.slots, SIBLING_WAIT_MS);
    const firstWaiting = steps.length - next.waiting;
    const runs = steps.map(async (step, i): Promise<Continuation | null> => {
      let slot: Slot | null = i === 0 ? 'job' : i < firstWaiting ? 'borrowed' : null;
      const freeSlot = (): void => {
        if (slot) slots.free(slot);
        slot = null;
      };
      try {
        if (i >= firstWaiting) {
          slot = await slots.acquire();
          if (!slot || this.drain.draining) {
            freeSlot();
            stopHolding();
            await this.passOn(step);
            return null;
          }
        }
        if (--toStart === 0) allStarted();
        const execution = await this.execute(step, (signal) =>
          this.executor.execute(snapshot, step.step, step.attempt, signal),
        ).finally(freeSlot);
        if (execution?.type !== 'finished') {
          stopHolding();
          return null;
        }
        const finish = {
          claimed: step,
          outcome: execution.outcome,
          recorded: execution.recorded ?? noStream,
        };
        if (holding) {
          held.push(finish);
          if (held.length === steps.length) release();
          else await holdFor(released, running);
          // Every outcome in, still holding: they are recorded together, below.
          if (holding && held.length === steps.length) return null;
          stopHolding();
        }
        return await this.recordOutcome(
          step.responseId,
          step.step.id,
          step.attempt,
          finish.outcome,
          finish.recorded,
        );
      } catch (error) {
        stopHolding();
        throw error;
      } finally {
        freeSlot();
      }
    });
    const settled = await Promise.allSettled(runs);
    if (holding) return this.continueInline(snapshot, held);
    const after = await this.carryOn(
      settled.map((run) => (run.status === 'fulfilled' ? run.value : null)),
    );
    const failed = settled.find((run) => run.status === 'rejected');
    if (!failed) return after;
    if (after) await this.runChain(after);
    throw failed.reason;
  }

  /**
   * The continuation to go on with in this job: the one of the sibling that completed its
   * round. Should there be more than one, the others run beside it.
   */
  private async carryOn(continuations: (Continuation | null)[]): Promise<Continuation | null> {
    const [first, ...more] = continuations.filter((next) => next !== null);
    await Promise.all(more.map((continuation) => this.runChain(continuation)));
    return first ?? null;
  }

  /**
   * Executes a claimed step under its lease. Null when the step was not finished here: this
   * worker is shutting down or lost the liveness session it was claimed under (the step is
   * handed back), or ratchet itself failed (the step is released at once for a retry, and the
   * error rethrown so the job shows it).
   */
  private async execute(
    claimed: ClaimedStep,
    run: (signal: AbortSignal) => Promise<Execution>,
    model: string | null = null,
  ): Promise<Execution | null> {
    const release = this.leases.hold(
      { responseId: claimed.responseId, stepId: claimed.step.id },
      claimed.owner,
    );
    try {
      const { value: execution, handBack } = await this.inFlight.run(
        claimed.responseId,
        claimed.deadlineAt,
        claimed.owner,
        (signal) => observeStep(claimed, model, () => run(signal)),
      );
      if (!handBack) {
        if (execution.type === 'finished') {
          this.logStopped(claimed.responseId, claimed.step, claimed.attempt, execution.outcome);
        }
        return execution;
      }
      await this.recovery.releaseLease(claimed.responseId, claimed.step.id, claimed.attempt);
      await this.queue.requeue(
        { advance: [], run: [{ responseId: claimed.responseId, stepId: claimed.step.id }] },
        `handback${claimed.attempt}`,
      );
      return null;
    } catch (error) {
      // Ratchet's own trouble (Postgres or Redis away, a bug): the step runs again.
      this.logger.error(
        {
          msg: `step ${claimed.step.id} (${claimed.step.kind}) attempt ${claimed.attempt} failed inside ratchet; it will run again: ${String(error)}`,
          ...stepFields(claimed.responseId, claimed.step, claimed.attempt),
        },
        error,
      );
      await this.recovery
        .releaseLease(claimed.responseId, claimed.step.id, claimed.attempt)
        .catch(() => undefined);
      throw error;
    } finally {
      release();
    }
  }

  /**
   * Hands a sibling claimed here, and not run, to the queue: unclaimed, it is claimed there at
   * the attempt it would have had here.
   */
  private async passOn(claimed: ClaimedStep): Promise<void> {
    if (
      await this.steps.unclaim(claimed.responseId, claimed.step.id, claimed.attempt, claimed.owner)
    ) {
      await this.queue.runSteps(claimed.responseId, [claimed.step.id]);
    }
  }

  /**
   * After the steps of a round that all ran here (its only call, or every sibling): the
   * scope's state is known here (the snapshot plus these outcomes), so the next decision is
   * made before anything is written, and when it is another round or the response's end,
   * recording these outcomes and it is one statement.
   */
  private async continueInline(
    snapshot: ScopeSnapshot,
    finishes: readonly Finish[],
  ): Promise<Continuation | null> {
    const finished = new Map(
      finishes.map(({ claimed, outcome }): [string, StepRecord] => [
        claimed.step.id,
        {
          ...claimed.step,
          status: outcome.status,
          result: outcome.result ?? null,
          error: outcome.error ?? null,
        },
      ]),
    );
    const after: ScopeSnapshot = {
      ...snapshot,
      steps: [...snapshot.steps.filter((step) => !finished.has(step.id)), ...finished.values()],
    };
    const decision = this.transitionFor(after);
    // A new response's first model call, run unclaimed (runFirst): a claim under way settles
    // first. Still unclaimed, it is claimed and finished by the statement below, which is
    // sent again should it find no step yet (its create not committed).
    const take = this.firstTakes.get(finishes[0].claimed);
    if (take) {
      await take.settle();
      if (take.state === 'lost') return null;
    }
    const taker = take?.state === 'unclaimed' ? finishes[0].claimed.owner : null;
    /** Not written as the first model call's: sent again once its step is there, or never. */
    const unwritten = async (missing: boolean): Promise<Continuation | null> =>
      missing && (await take!.awaitRecord()) ? this.continueInline(snapshot, finishes) : null;
    const outcomes = finishes.map(({ claimed, outcome }) => ({
      stepId: claimed.step.id,
      attempt: claimed.attempt,
      outcome,
      taker,
    }));
    const responseId = snapshot.scope.responseId;
    if (decision.type !== 'append') {
      const end = scopeEnd(decision);
      if (end === null || snapshot.scope.parentStepId !== null) {
        if (!taker) return this.recordEach(finishes);
        // A first model call's outcome goes in alone only once it is claimed.
        await take!.take();
        return this.continueInline(snapshot, finishes);
      }
      // The response's last steps: their outcomes and the response's end are one statement.
      const result = await this.steps.finishAndEnd(
        outcomes,
        responseEnd(responseId, end, after.steps),
      );
      if (!result.recorded && taker) return unwritten(result.missing);
      if (!result.recorded && finishes.length > 1) return this.recordEach(finishes);
      await Promise.all(finishes.map(({ recorded }) => recorded(result.recorded)));
      const { ended } = result;
      if (ended) {
        await this.stream.roundOutputs(after);
        await this.afterResponseEnded(ended);
      }
      return null;
    }
    const claim = this.inlineClaim(decision.steps, true);
    const result = await this.steps
      .finishAndAppend(
        outcomes,
        this.newRound(after, decision.round, decision.steps),
        this.budgetLimits(after),
        claim,
      )
      .catch(this.unclaimOnError(claim));
    if (!result.recorded) {
      this.unclaim(claim);
      if (taker) return unwritten(result.missing);
      // Siblings are written all or none: one was taken over, so each goes in on its own.
      if (finishes.length > 1) return this.recordEach(finishes);
      await finishes[0].recorded(false);
      return null;
    }
    await Promise.all(finishes.map(({ recorded }) => recorded(true)));
    // A background response's first model call, claimed as it finished: it started just now.
    if (taker && snapshot.response.request.background) this.bus.publishChange(responseId);
    await this.stream.roundOutputs(after);
    const next = await this.afterAppend(after, decision.steps, result.append, claim);
    return next === 'decide-again' ? this.decide(snapshot.scope.id, () => true) : next;
  }

  /** Records outcomes one by one, as steps run from the queue do (see carryOn). */
  private async recordEach(finishes: readonly Finish[]): Promise<Continuation | null> {
    return this.carryOn(
      await Promise.all(
        finishes.map(({ claimed, outcome, recorded }) =>
          this.recordOutcome(
            claimed.responseId,
            claimed.step.id,
            claimed.attempt,
            outcome,
            recorded,
          ),
        ),
      ),
    );
  }

  /**
   * Records a step's outcome. The step that completes its round decides the scope's next
   * round, inline: the slot it frees is the one the next step takes. Otherwise its freed
   * slot goes to a waiting step of the response, through the queue.
   */
  private async recordOutcome(
    responseId: string,
    stepId: string,
    attempt: number | null,
    outcome: StepOutcome,
    recorded: AfterRecord = noStream,
  ): Promise<Continuation | null> {
    const finished = await this.steps.finish(responseId, stepId, attempt, outcome);
    await recorded(finished.recorded);
    if (!finished.recorded || finished.scopeId === null) return null;
    if (!finished.roundComplete) {
      // The slot this step held goes to a step the limits held back, if one waits. The
      // outcome's statement tells, unless the tree has other scopes going: then only a look
      // after its commit does (StepsRepository.finish).
      // `awaiting` is read from this statement's snapshot and may miss requests another
      // scope recorded meanwhile. That is safe: this round's other open steps either wait
      // for approval (recorded with this step, so counted) or have yet to finish, and their
      // finisher looks again; whoever recorded the new requests looks once it committed.
      const waiting = finished.waiting ?? (await this.steps.hasWaitingSteps(responseId));
      if (waiting) await this.dispatch(responseId);
      else if (finished.awaiting > 0) await this.endIfPaused(responseId);
      return null;
    }
    return this.decide(finished.scopeId, () => true, finished.snapshot);
  }

  /**
   * Decides what a scope does next and records it. Returns the claimed step to run inline
   * when the new round is a single model or tool call and `inline` allows it.
   */
  private async decide(
    scopeId: string,
    inline: (snapshot: ScopeSnapshot) => boolean,
    preloaded: ScopeSnapshot | null = null,
  ): Promise<Continuation | null> {
    for (let attempt = 0; attempt < MAX_DECISIONS; attempt++) {
      const snapshot = (attempt === 0 ? preloaded : null) ?? (await this.steps.loadScope(scopeId));
      if (!snapshot || isTerminalStatus(snapshot.response.status)) return null;
      await this.stream.beforeDecision(snapshot);
      const decision = this.transitionFor(snapshot);
      if (decision.type === 'wait') {
        await this.whileWaiting(snapshot);
        return null;
      }
      if (decision.type !== 'append') {
        const end = scopeEnd(decision);
        return end ? this.endScope(snapshot, end) : null;
      }
      const claim = this.inlineClaim(decision.steps, inline(snapshot));
      const result = await this.steps
        .appendRound(
          this.newRound(snapshot, decision.round, decision.steps),
          this.budgetLimits(snapshot),
          claim,
        )
        .catch(this.unclaimOnError(claim));
      const next = await this.afterAppend(snapshot, decision.steps, result, claim);
      if (next === 'decide-again') continue;
      return next;
    }
    throw new Error(`scope ${scopeId}: no decision fit the budget after ${MAX_DECISIONS} tries`);
  }

  /**
   * A scope whose round is still open was advanced (a job run again, a recovery, or a tree
   * adopted by the response that answered its approvals): its steps that wait for a slot are
   * dispatched, and a tree stuck on approvals ends its turn.
   */
  private async whileWaiting(snapshot: ScopeSnapshot): Promise<void> {
    const responseId = snapshot.scope.responseId;
    if (await this.steps.hasWaitingSteps(responseId)) {
      await this.dispatch(responseId);
      return;
    }
    await this.endIfPaused(responseId);
  }

  /** Ends the response's turn if nothing in its tree can progress but calls awaiting approval. */
  private async endIfPaused(responseId: string): Promise<void> {
    const ended = await this.pause.endIfPaused(responseId);
    if (ended) await this.afterResponseEnded(ended);
  }

  private transitionFor(snapshot: ScopeSnapshot): Decision {
    const { limits } = this.config.config;
    const maxToolCalls = snapshot.response.request.max_tool_calls ?? null;
    return transition({
      steps: snapshot.steps,
      ...scopeRouting(snapshot.scope, snapshot.steps),
      maxIterations: limits.maxIterations,
      shown: snapshot.scope.shownItems,
      budget: {
        steps: limits.maxSteps - snapshot.tree.steps,
        toolCalls:
          maxToolCalls === null ? null : Math.max(0, maxToolCalls - snapshot.tree.toolCalls),
        expired:
          snapshot.response.deadlineAt !== null && snapshot.response.deadlineAt <= new Date(),
      },
    });
  }

  private budgetLimits(snapshot: ScopeSnapshot): AppendBudget {
    const { limits } = this.config.config;
    return {
      dispatchLimits: {
        perScope: limits.maxConcurrentStepsPerScope,
        perResponse: limits.maxConcurrentStepsPerResponse,
      },
      maxSteps: this.config.config.limits.maxSteps,
      maxToolCalls: snapshot.response.request.max_tool_calls ?? null,
      approvalExpiresAfterMs: this.config.config.approvals.expiresAfterMs,
    };
  }

  private newRound(snapshot: ScopeSnapshot, round: number, steps: NewStep[]): NewRound {
    return {
      responseId: snapshot.scope.responseId,
      scopeId: snapshot.scope.id,
      round,
      steps,
    };
  }

  /**
   * What of a round runs in this job, recorded already claimed, when `inline` allows and the
   * worker is not draining (a draining worker hands its chains' next steps to the queue): a
   * round of one call, or of a round of several, its tool calls: one in this job's own slot,
   * more in borrowed free ones, and the rest, as far as the worker keeps siblings in line,
   * waiting for the next slots to come free. Agent calls and any call beyond those go to the
   * queue, for any worker.
   */
  private inlineClaim(steps: readonly NewStep[], inline: boolean): Claim | null {
    if (!inline || this.drain.draining) return null;
    const calls = runnable(steps);
    const claim = { owner: this.workerId, leaseMs: this.leaseMs };
    if (calls.length === 1) {
      return { ...claim, indexes: [calls[0].index], borrowed: 0, reserved: 0 };
    }
    const tools = calls.filter((step) => step.kind === 'tool_call');
    if (tools.length === 0) return null;
    const borrowed = this.slots.borrow(tools.length - 1);
    const reserved = this.slots.reserve(tools.length - 1 - borrowed);
    const indexes = tools.slice(0, 1 + borrowed + reserved).map((step) => step.index);
    return { ...claim, indexes, borrowed, reserved };
  }

  /** For a statement that failed: gives back all a claim took, and rethrows. */
  private unclaimOnError(claim: Claim | null): (error: unknown) => never {
    return (error) => {
      this.unclaim(claim);
      throw error;
    };
  }

  /**
   * Gives back what a claim took beyond the siblings it got (`running` of them): they use the
   * borrowed slots first, then the reserved places. Returns how many of them wait for a slot.
   */
  private unclaim(claim: Claim | null, running = 0): number {
    if (!claim) return 0;
    const siblings = Math.max(0, running - 1);
    const borrowed = Math.min(claim.borrowed, siblings);
    const waiting = Math.min(claim.reserved, siblings - borrowed);
    this.slots.giveBack(claim.borrowed - borrowed);
    this.slots.unreserve(claim.reserved - waiting);
    return waiting;
  }

  /**
   * What follows recording a round: run its claimed step here, hand its steps to the queue,
   * or decide again (the round existed already, the budget was spent meanwhile, or every
   * call was refused by a cap).
   */
  private async afterAppend(
    snapshot: ScopeSnapshot,
    steps: readonly NewStep[],
    result: AppendResult,
    claim: Claim | null,
  ): Promise<Continuation | null | 'decide-again'> {
    // Recorded claimed: the steps the claim named that the statement recorded running (a
    // round that did not surely fit the limits was recorded pending, for the dispatcher).
    const mine =
      result.type === 'recorded' && claim
        ? result.steps.filter(
            (step) => step.status === 'running' && claim.indexes.includes(step.index),
          )
        : [];
    const waiting = this.unclaim(claim, mine.length);
    if (result.type === 'ended') return null;
    if (result.type !== 'recorded') return 'decide-again';
    if (result.steps.every((step) => isTerminalStep(step.status))) return 'decide-again';
    const responseId = snapshot.scope.responseId;
    const pending = result.steps.filter((step) => step.status === 'pending');
    // Recorded dispatched: the round fit the concurrency limits, so its pending steps go to
    // the queue (its claimed ones run here).
    if (result.dispatched) {
      await this.queue.runSteps(
        responseId,
        pending.map((step) => step.id),
      );
    }
    if (mine.length === 0) {
      if (!result.dispatched) await this.dispatch(responseId);
      // A round whose calls all wait for approval (or were refused) may leave the tree stuck.
      if (pending.length === 0) await this.endIfPaused(responseId);
      return null;
    }
    const toolCalls = steps.filter((step) => step.kind !== 'model_call' && !step.refused).length;
    const [first, ...siblings] = mine.map((step): ClaimedStep => ({
      step,
      scopeId: snapshot.scope.id,
      responseId,
      attempt: 1,
      owner: claim!.owner,
      deadlineAt: snapshot.response.deadlineAt,
    }));
    return {
      claimed: first,
      // The scope as it now is in Postgres: with this round, and the tree's counters spent.
      snapshot: {
        ...snapshot,
        steps: [...snapshot.steps, ...result.steps],
        tree: {
          steps: snapshot.tree.steps + result.steps.length,
          toolCalls: snapshot.tree.toolCalls + toolCalls,
        },
      },
      // The round's only runnable call takes this job's slot as the step before it did.
      inline: runnable(steps).length === 1,
      siblings,
      waiting,
      wholeRound: pending.length === 0,
    };
  }

  /** Queues the response's pending steps as far as its concurrency limits allow. */
  async dispatch(responseId: string): Promise<void> {
    const { limits } = this.config.config;
    const stepIds = await this.steps.dispatch(responseId, {
      perScope: limits.maxConcurrentStepsPerScope,
      perResponse: limits.maxConcurrentStepsPerResponse,
    });
    await this.queue.runSteps(responseId, stepIds);
  }

  /**
   * A scope ended. The top scope ends the response; a child scope records its agent step's
   * outcome, which may complete the parent's round and let the parent go on inline.
   */
  private async endScope(snapshot: ScopeSnapshot, end: ScopeEnd): Promise<Continuation | null> {
    const { scope } = snapshot;
    if (scope.parentStepId === null) {
      await this.endResponse(scope.responseId, end, snapshot.steps);
      return null;
    }
    await this.steps.closeScope(
      scope.id,
      end.status === 'completed' ? 'completed' : 'failed',
      end.output,
    );
    const outcome = agentOutcome(end);
    agentEnded(scope.responseId, scope.parentStepId, outcome.status);
    this.logStopped(
      scope.responseId,
      { id: scope.parentStepId, kind: 'agent_call' },
      null,
      outcome,
    );
    return this.recordOutcome(scope.responseId, scope.parentStepId, null, outcome);
  }

  private async endResponse(
    responseId: string,
    end: ScopeEnd,
    steps: readonly StepRecord[],
  ): Promise<void> {
    const { status, output, storedOutput, error, incompleteDetails } = responseEnd(
      responseId,
      end,
      steps,
    );
    const ended = await this.responses.finishWithUsage(responseId, {
      status,
      output,
      storedOutput,
      error,
      incompleteDetails,
    });
    if (ended) await this.afterResponseEnded(ended);
  }

  /**
   * Logs a step that stopped with an error (the upstream's, the tool's, a cap's), at `error`
   * with the response, step and attempt as fields: the model reads the error as the step's
   * output, and an operator reads it here.
   */
  private logStopped(
    responseId: string,
    step: Pick<StepRecord, 'id' | 'kind'> & { name?: string | null },
    attempt: number | null,
    outcome: StepOutcome,
  ): void {
    if (outcome.status !== 'failed') return;
    const error = outcome.error;
    const what = step.name ? `${step.kind} '${step.name}'` : step.kind;
    this.logger.error({
      msg: `step ${step.id} (${what}) failed: ${error?.code ?? 'unknown'}: ${error?.message ?? ''}`,
      ...stepFields(responseId, step, attempt),
      code: error?.code ?? null,
    });
  }

  /** Tells whoever waits that the response ended; an early end also stops its other work. */
  private async afterResponseEnded(ended: ResponseRecord): Promise<void> {
    responseEnded(ended);
    this.bus.publishChange(ended.id);
    if (ended.status !== 'completed') {
      // A cap or failure can end the response while sub-agents still work: stop them.
      await this.steps.cancelOpenSteps(ended.id);
      await this.bus.publishCancel(ended.id);
    }
    await this.stream.ended(ended);
    // Only a foreground request or a stream's follower waits for the notice; a background
    // response's end is read from Postgres by whoever asks.
    const { background, stream } = ended.request;
    if (!background || stream) {
      await this.bus.publish({ type: 'terminal', responseId: ended.id, record: ended });
    }
  }
}

/** The structured fields that name a step in the log. */
function stepFields(
  responseId: string,
  step: Pick<StepRecord, 'id' | 'kind'> & { name?: string | null },
  attempt: number | null,
): Record<string, unknown> {
  return { responseId, stepId: step.id, attempt, kind: step.kind, tool: step.name ?? null };
}

/** How a decision ends a scope, if it does. */
function scopeEnd(decision: Decision): ScopeEnd | null {
  switch (decision.type) {
    case 'complete':
      return { status: 'completed', output: decision.output };
    case 'incomplete':
      return { status: 'incomplete', output: decision.output, reason: decision.reason };
    case 'fail':
      return { status: 'failed', output: [], error: decision.error };
    case 'append':
    case 'wait':
      return null;
  }
}

/** How the response ends, its output stored with references to the top scope's `steps`. */
function responseEnd(responseId: string, end: ScopeEnd, steps: readonly StepRecord[]): ResponseEnd {
  return {
    responseId,
    status: end.status,
    output: end.output,
    storedOutput: compactOutput(end.output, steps) ?? undefined,
    error: end.status === 'failed' ? end.error : null,
    incompleteDetails: end.status === 'incomplete' ? { reason: end.reason } : null,
  };
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

/**
 * A finished sibling's wait for the rest of its round: until `released` resolves, or
 * ROUND_HOLD_MS after `running` does (at once, if it has), or ROUND_HOLD_LIMIT_MS in all,
 * whichever is first.
 */
async function holdFor(released: Promise<void>, running: Promise<void>): Promise<void> {
  let waiting = true;
  let quiet: NodeJS.Timeout | undefined;
  let limit: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    limit = setTimeout(resolve, ROUND_HOLD_LIMIT_MS);
    void running.then(() => {
      if (waiting) quiet = setTimeout(resolve, ROUND_HOLD_MS);
    });
  });
  await Promise.race([released, timedOut]);
  waiting = false;
  clearTimeout(quiet);
  clearTimeout(limit);
}

/** The calls of a round that run: not refused by a cap, not waiting for approval. */
function runnable(steps: readonly NewStep[]): NewStep[] {
  return steps.filter((step) => !step.refused && !step.awaitingApproval);
}
