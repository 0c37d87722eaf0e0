import { Injectable } from '@nestjs/common';
import {
  newId,
  type CreateResponseRequest,
  type Item,
  type NewStep,
  type ResponseStatus,
  type StepError,
  type StepRecord,
  type StepStatus,
  type Usage,
} from '@ratchet/core';
import { Prisma } from './generated/prisma/client';
import { fromJson, toJson } from './json';
import { PrismaService } from './prisma.service';
import type { ScopeTools } from './responses.repository';

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

/** Everything the engine needs to advance one scope. */
export interface ScopeSnapshot {
  scope: ScopeRow;
  steps: StepRecord[];
  response: { id: string; status: ResponseStatus; request: CreateResponseRequest };
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

@Injectable()
export class StepsRepository {
  constructor(private readonly prisma: PrismaService) {}

  async loadScope(scopeId: string): Promise<ScopeSnapshot | null> {
    const scope = await this.prisma.scope.findUnique({
      where: { id: scopeId },
      include: {
        steps: { select: stepSelect },
        response: { select: { id: true, status: true, request: true } },
      },
    });
    if (!scope) return null;
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
      },
    };
  }

  /**
   * Records a round the transition decided on. (scope, round, index) is unique, so recording
   * the same decision again inserts nothing; the round's rows are returned either way.
   */
  async appendRound(
    responseId: string,
    scopeId: string,
    round: number,
    steps: readonly NewStep[],
    prevStepId: string | null,
  ): Promise<StepRecord[]> {
    await this.prisma.step.createMany({
      data: steps.map((step) => ({
        id: newId('step'),
        responseId,
        scopeId,
        round,
        index: step.index,
        kind: step.kind,
        callId: step.callId,
        name: step.name,
        arguments: step.arguments,
        prevStepId,
      })),
      skipDuplicates: true,
    });
    const rows = await this.prisma.step.findMany({
      where: { scopeId, round },
      select: stepSelect,
      orderBy: { index: 'asc' },
    });
    return rows.map(toStepRecord);
  }

  /**
   * Takes a step for execution: a pending step, or a running one whose owner's lease has
   * expired. Bumps the attempt, which fences out any earlier owner's late result.
   */
  async claim(stepId: string, owner: string, leaseMs: number): Promise<ClaimedStep | null> {
    const rows = await this.prisma.$queryRaw<
      (StepRow & { scope_id: string; response_id: string })[]
    >`
      UPDATE steps
         SET status = 'running', attempt = attempt + 1, lease_owner = ${owner},
             lease_expires_at = now() + ${leaseMs} * interval '1 millisecond',
             started_at = coalesce(started_at, now())
       WHERE id = ${stepId}
         AND (status = 'pending' OR (status = 'running' AND lease_expires_at < now()))
      RETURNING id, round, index, kind::text AS kind, status::text AS status, call_id AS "callId",
                name, arguments, result, error, usage, attempt, scope_id, response_id`;
    const row = rows[0];
    if (!row) return null;
    const { scope_id, response_id, ...step } = row;
    return {
      step: toStepRecord(step),
      scopeId: scope_id,
      responseId: response_id,
      attempt: (row as unknown as { attempt: number }).attempt,
    };
  }

  /**
   * Records a step's outcome if `attempt` still owns it, and says whether its round is now
   * complete. The scope row is locked meanwhile, so of siblings finishing at the same
   * instant exactly one sees the round complete.
   */
  async finish(
    stepId: string,
    scopeId: string,
    attempt: number,
    outcome: StepOutcome,
  ): Promise<{ recorded: boolean; roundComplete: boolean }> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM scopes WHERE id = ${scopeId} FOR UPDATE`;
      const { count } = await tx.step.updateMany({
        where: { id: stepId, attempt, status: 'running' },
        data: {
          status: outcome.status,
          result:
            outcome.result === undefined || outcome.result === null
              ? undefined
              : toJson(outcome.result),
          error: outcome.error ? toJson(outcome.error) : undefined,
          usage: outcome.usage ? toJson(outcome.usage) : undefined,
          completedAt: new Date(),
          leaseOwner: null,
          leaseExpiresAt: null,
        },
      });
      if (count === 0) return { recorded: false, roundComplete: false };
      const [{ open }] = await tx.$queryRaw<{ open: number }[]>`
        SELECT count(*)::int AS open FROM steps s
         WHERE s.scope_id = ${scopeId}
           AND s.round = (SELECT round FROM steps WHERE id = ${stepId})
           AND s.status IN ('pending', 'running')`;
      return { recorded: true, roundComplete: open === 0 };
    });
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
