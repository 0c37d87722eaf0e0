import { Injectable } from '@nestjs/common';
import {
  newId,
  type CreateResponseRequest,
  type Item,
  type NewStep,
  type ResponseStatus,
  type ScopeTools,
  type StepError,
  type StepRecord,
  type StepStatus,
  type Usage,
} from '@ratchet/core';
import { Prisma } from './generated/prisma/client';
import { fromJson, toJson } from './json';
import { PrismaService } from './prisma.service';

export interface ScopeRow {
  id: string;
  responseId: string;
  parentStepId: string | null;
  depth: number;
  model: string;
  instructions: string | null;
  input: Item[];
  tools: ScopeTools;
}

/** Counters of the whole response tree, for the response-wide budgets. */
export interface TreeUsage {
  /** Every step recorded in the response, all scopes. */
  steps: number;
  /** Tool and agent steps that were (or are being) run, all scopes. */
  toolCalls: number;
}

/** Everything the engine needs to advance one scope. */
export interface ScopeSnapshot {
  scope: ScopeRow;
  steps: StepRecord[];
  response: {
    id: string;
    status: ResponseStatus;
    request: CreateResponseRequest;
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

const stepSelect = {
  id: true,
  round: true,
  index: true,
  kind: true,
  status: true,
  callId: true,
  name: true,
  arguments: true,
  result: true,
  error: true,
  usage: true,
} satisfies Prisma.StepSelect;

type StepRow = Prisma.StepGetPayload<{ select: typeof stepSelect }>;

function toStepRecord(row: StepRow): StepRecord {
  return {
    ...row,
    result: fromJson<StepRecord['result']>(row.result),
    error: fromJson<StepError | null>(row.error),
    usage: fromJson<Usage | null>(row.usage),
  };
}

/** Data of a finished step, shared by every way a step can finish. */
function finishedData(outcome: StepOutcome): Prisma.StepUpdateManyMutationInput {
  return {
    status: outcome.status,
    result:
      outcome.result === undefined || outcome.result === null ? undefined : toJson(outcome.result),
    error: outcome.error ? toJson(outcome.error) : undefined,
    usage: outcome.usage ? toJson(outcome.usage) : undefined,
    completedAt: new Date(),
    leaseOwner: null,
    leaseExpiresAt: null,
  };
}

/** A round the transition decided on, with where it goes. */
export interface NewRound {
  responseId: string;
  scopeId: string;
  round: number;
  steps: readonly NewStep[];
  prevStepId: string | null;
}

/**
 * Steps and tool calls of a whole response tree. Refused calls (recorded failed, never
 * started) count as steps but not as tool calls.
 */
function treeUsageQuery(responseId: string): Prisma.Sql {
  return Prisma.sql`
    SELECT count(*)::int AS steps,
           (count(*) FILTER (WHERE kind <> 'model_call'
                               AND NOT (status = 'failed' AND started_at IS NULL)))::int
             AS "toolCalls"
      FROM steps WHERE response_id = ${responseId}`;
}

/** The child scope of an agent step has an id derived from the step's. */
export function childScopeId(stepId: string): string {
  return `scope_${stepId.replace(/^step_/, '')}`;
}

@Injectable()
export class StepsRepository {
  constructor(private readonly prisma: PrismaService) {}

  async loadScope(scopeId: string): Promise<ScopeSnapshot | null> {
    const scope = await this.prisma.scope.findUnique({
      where: { id: scopeId },
      include: {
        steps: { select: stepSelect },
        response: { select: { id: true, status: true, request: true, deadlineAt: true } },
      },
    });
    if (!scope) return null;
    const [tree] = await this.prisma.$queryRaw<TreeUsage[]>`${treeUsageQuery(scope.responseId)}`;
    return {
      scope: {
        id: scope.id,
        responseId: scope.responseId,
        parentStepId: scope.parentStepId,
        depth: scope.depth,
        model: scope.model,
        instructions: scope.instructions,
        input: fromJson<Item[]>(scope.input),
        tools: fromJson<ScopeTools>(scope.tools),
      },
      steps: scope.steps.map(toStepRecord),
      response: {
        id: scope.response.id,
        status: scope.response.status,
        request: fromJson<CreateResponseRequest>(scope.response.request),
        deadlineAt: scope.response.deadlineAt,
      },
      tree,
    };
  }

  /**
   * Records a round the transition decided on. (scope, round, index) is unique, so recording
   * the same decision again inserts nothing and returns the round as first recorded.
   * Refused calls are recorded already failed, so the model hears why they did not run.
   *
   * The response-wide budgets are checked again here, under a lock on the response row:
   * scopes of one tree advance concurrently, and each decided on counts read before the
   * others recorded theirs. Null means the round no longer fits; the caller decides again.
   */
  async appendRound(
    round: NewRound,
    budget: { maxSteps: number; maxToolCalls: number | null },
  ): Promise<StepRecord[] | null> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM responses WHERE id = ${round.responseId} FOR UPDATE`;
      const existing = await tx.step.findMany({
        where: { scopeId: round.scopeId, round: round.round },
        select: stepSelect,
        orderBy: { index: 'asc' },
      });
      if (existing.length > 0) return existing.map(toStepRecord);

      const [used] = await tx.$queryRaw<TreeUsage[]>`${treeUsageQuery(round.responseId)}`;
      const newToolCalls = round.steps.filter((s) => s.kind !== 'model_call' && !s.refused).length;
      if (used.steps + round.steps.length > budget.maxSteps) return null;
      if (budget.maxToolCalls !== null && used.toolCalls + newToolCalls > budget.maxToolCalls) {
        return null;
      }
      const now = new Date();
      await tx.step.createMany({
        data: round.steps.map((step) => ({
          id: newId('step'),
          responseId: round.responseId,
          scopeId: round.scopeId,
          round: round.round,
          index: step.index,
          kind: step.kind,
          callId: step.callId,
          name: step.name,
          arguments: step.arguments,
          prevStepId: round.prevStepId,
          ...(step.refused
            ? { status: 'failed' as const, error: toJson(step.refused), completedAt: now }
            : {}),
        })),
      });
      const rows = await tx.step.findMany({
        where: { scopeId: round.scopeId, round: round.round },
        select: stepSelect,
        orderBy: { index: 'asc' },
      });
      return rows.map(toStepRecord);
    });
  }

  /**
   * Hands pending steps of a response to the queue, as far as the concurrency limits allow;
   * returns the ids to enqueue. Model and tool steps in flight count against the limits;
   * agent steps do not, since they only wait for their child scope, whose steps count.
   * The response row is locked, so concurrent dispatches never overshoot a limit.
   */
  async dispatch(responseId: string, limits: ConcurrencyLimits): Promise<string[]> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM responses WHERE id = ${responseId} FOR UPDATE`;
      const rows = await tx.$queryRaw<
        { id: string; scope_id: string; kind: string; in_flight: boolean }[]
      >`
        SELECT id, scope_id, kind::text AS kind,
               (status = 'running' OR dispatched_at IS NOT NULL) AS in_flight
          FROM steps
         WHERE response_id = ${responseId} AND status IN ('pending', 'running')
         ORDER BY created_at, round, index`;
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
        await tx.$executeRaw`
          UPDATE steps SET dispatched_at = now() WHERE id = ANY(${chosen}::text[])`;
      }
      return chosen;
    });
  }

  /**
   * Takes a step for execution: a pending step, or a running one whose owner's lease has
   * expired, of a response that is still going. Bumps the attempt, which fences out any
   * earlier owner's late result.
   */
  async claim(stepId: string, owner: string, leaseMs: number): Promise<ClaimedStep | null> {
    const rows = await this.prisma.$queryRaw<
      (StepRow & { scope_id: string; response_id: string; attempt: number })[]
    >`
      UPDATE steps
         SET status = 'running', attempt = attempt + 1, lease_owner = ${owner},
             executed_by = ${owner},
             lease_expires_at = now() + ${leaseMs} * interval '1 millisecond',
             started_at = coalesce(started_at, now())
       WHERE id = ${stepId}
         AND (status = 'pending' OR (status = 'running' AND lease_expires_at < now()))
         AND EXISTS (SELECT 1 FROM responses r
                      WHERE r.id = steps.response_id AND r.status IN ('queued', 'in_progress'))
      RETURNING id, round, index, kind::text AS kind, status::text AS status, call_id AS "callId",
                name, arguments, result, error, usage, attempt, scope_id, response_id`;
    const row = rows[0];
    if (!row) return null;
    const { scope_id, response_id, attempt, ...step } = row;
    return { step: toStepRecord(step), scopeId: scope_id, responseId: response_id, attempt };
  }

  /**
   * Records a step's outcome if it is still running (and, given an attempt, if that attempt
   * still owns it), and says whether its round is now complete. The scope row is locked
   * meanwhile, so of siblings finishing at the same instant exactly one sees it complete.
   */
  async finish(
    stepId: string,
    scopeId: string,
    attempt: number | null,
    outcome: StepOutcome,
  ): Promise<{ recorded: boolean; roundComplete: boolean; round: number }> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM scopes WHERE id = ${scopeId} FOR UPDATE`;
      const { count } = await tx.step.updateMany({
        where: { id: stepId, status: 'running', ...(attempt === null ? {} : { attempt }) },
        data: finishedData(outcome),
      });
      const [{ open, round }] = await tx.$queryRaw<{ open: number; round: number }[]>`
        SELECT count(*) FILTER (WHERE s.status IN ('pending', 'running'))::int AS open,
               min(s.round)::int AS round
          FROM steps s
         WHERE s.scope_id = ${scopeId}
           AND s.round = (SELECT round FROM steps WHERE id = ${stepId})`;
      return { recorded: count === 1, roundComplete: count === 1 && open === 0, round };
    });
  }

  /** Opens the scope an agent step runs; opening it again finds the existing one. */
  async openChildScope(scope: NewChildScope): Promise<void> {
    await this.prisma.scope.createMany({
      data: [
        {
          ...scope,
          input: toJson(scope.input),
          tools: toJson(scope.tools),
        },
      ],
      skipDuplicates: true,
    });
  }

  /** The agent step a child scope runs for, with the scope the step belongs to. */
  async parentOf(childScopeIdValue: string): Promise<{ stepId: string; scopeId: string } | null> {
    const rows = await this.prisma.$queryRaw<{ step_id: string; scope_id: string }[]>`
      SELECT s.id AS step_id, s.scope_id FROM scopes c JOIN steps s ON s.id = c.parent_step_id
       WHERE c.id = ${childScopeIdValue}`;
    return rows[0] ? { stepId: rows[0].step_id, scopeId: rows[0].scope_id } : null;
  }

  /** Marks a scope finished (for inspection; the parent step carries the result). */
  async closeScope(scopeId: string, status: StepStatus, output: Item[]): Promise<void> {
    await this.prisma.scope.update({
      where: { id: scopeId },
      data: { status, output: toJson(output), completedAt: new Date() },
    });
  }

  /** Ends every unfinished step of a response as cancelled (after the response ended). */
  async cancelOpenSteps(responseId: string): Promise<number> {
    const { count } = await this.prisma.step.updateMany({
      where: { responseId, status: { in: ['pending', 'running'] } },
      data: finishedData({ status: 'cancelled' }),
    });
    return count;
  }

  /** Usage of every step of a response, sub-agents included. */
  async responseUsage(responseId: string): Promise<Usage[]> {
    const rows = await this.prisma.step.findMany({
      where: { responseId, usage: { not: Prisma.DbNull } },
      select: { usage: true },
    });
    return rows.map((row) => fromJson<Usage>(row.usage));
  }
}
