import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { RatchetError } from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { JobQueue } from '@ratchet/queue';
import {
  AdminRepository,
  AUDIT_MAX_IDS,
  OperationsRepository,
  RecoveryRepository,
  StepsRepository,
  type AuditEntry,
  type LiveResponse,
  type Principal,
  type ResponseFilter,
  type StuckReason,
  type WorkerView,
} from '@ratchet/store';
import { ResponsesService } from '../responses/responses.service';
import type { AuditQuery, PurgeRequest, ResponseFilterBody, StuckQuery } from './admin.schemas';
import type { Overview, PurgeResult, ResponsesAction } from './admin.types';

/** Cancels run this many at a time: each is a few statements and a Redis publish. */
const CANCEL_CONCURRENCY = 8;

/**
 * Operator controls. Every change goes through the path the service itself uses (a cancel
 * through ResponsesService.stop, a requeue through recovery), and every action, dry runs too,
 * is written to the audit trail with who asked.
 */
@Injectable()
export class AdminService {
  private readonly logger = new Logger(AdminService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly admin: AdminRepository,
    private readonly operations: OperationsRepository,
    private readonly recovery: RecoveryRepository,
    private readonly steps: StepsRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
    private readonly responses: ResponsesService,
  ) {}

  async stuck(
    query: StuckQuery,
  ): Promise<{ object: 'list'; data: LiveResponse[]; has_more: boolean }> {
    const rows = await this.admin.liveResponses({
      statuses: query.status ? [query.status] : undefined,
      model: query.model,
      ownerId: query.owner,
      createdBefore: query.created_before ? new Date(query.created_before) : undefined,
      createdAfter: query.created_after ? new Date(query.created_after) : undefined,
      stuck: true,
      reasons: query.reason ? (query.reason.split(',') as StuckReason[]) : undefined,
      idleSeconds: query.idle_seconds,
      limit: query.limit + 1,
    });
    return {
      object: 'list',
      data: rows.slice(0, query.limit),
      has_more: rows.length > query.limit,
    };
  }

  /**
   * Queues again the idle work of the live responses the filter names, as the recovery sweeper
   * does (RecoveryRepository.recoverResponses): steps whose worker died or whose lease ran
   * out, pending steps, and scopes waiting for a decision. A step a live worker holds is left
   * alone; a step queued twice runs once (its claim is fenced by attempt).
   */
  async requeue(filter: ResponseFilterBody, principal: Principal): Promise<ResponsesAction> {
    const matched = await this.admin.liveResponses(this.filterOf(filter));
    const dryRun = filter.dry_run ?? false;
    let requeued = { steps: 0, scopes: 0 };
    let affected: string[] = matched.map((response) => response.id);
    if (!dryRun && matched.length > 0) {
      const found = await this.recovery.recoverResponses(affected, async (work) => {
        const run = work.steps
          .filter((step) => step.status === 'running' || step.dispatched)
          .map((step) => ({ responseId: step.responseId, stepId: step.id }));
        const advance = work.scopes.map((scope) => ({
          responseId: scope.responseId,
          scopeId: scope.id,
        }));
        await this.queue.requeue({ advance, run }, `admin${Date.now().toString(36)}`);
        // Steps waiting for a concurrency slot get one, as far as the limits allow.
        const waiting = work.steps.filter((step) => step.status === 'pending' && !step.dispatched);
        const { limits } = this.config.config;
        for (const responseId of new Set(waiting.map((step) => step.responseId))) {
          const stepIds = await this.steps.dispatch(responseId, {
            perScope: limits.maxConcurrentStepsPerScope,
            perResponse: limits.maxConcurrentStepsPerResponse,
          });
          await this.queue.runSteps(responseId, stepIds);
        }
        return work;
      });
      requeued = { steps: found.steps.length, scopes: found.scopes.length };
      affected = [
        ...new Set([
          ...found.steps.map((step) => step.responseId),
          ...found.scopes.map((scope) => scope.responseId),
        ]),
      ];
      await this.recovery.recordRun('admin', null, requeued);
      this.logger.warn(
        `admin ${principal.keyId} requeued ${requeued.steps} step(s) and ${requeued.scopes} scope(s) of ${affected.length} response(s)`,
      );
    }
    const auditId = await this.audit(principal, 'requeue', filter, dryRun, affected);
    return {
      object: 'admin.action',
      action: 'requeue',
      dry_run: dryRun,
      matched: matched.length,
      responses: matched,
      affected: affected.length,
      affected_ids: affected.slice(0, AUDIT_MAX_IDS),
      requeued,
      audit_id: auditId,
    };
  }

  /**
   * Cancels the live responses the filter names, each exactly as its owner's cancel would
   * (ResponsesService.stop): in-flight calls in every worker are aborted over the bus.
   * Unlike the owner's cancel, foreground responses are cancelled too; their waiting
   * requests answer with the cancelled response.
   */
  async cancel(filter: ResponseFilterBody, principal: Principal): Promise<ResponsesAction> {
    const matched = await this.admin.liveResponses(this.filterOf(filter));
    const dryRun = filter.dry_run ?? false;
    let affected = matched.map((response) => response.id);
    if (!dryRun) {
      const cancelled: string[] = [];
      const queue = [...affected];
      const next = async (): Promise<void> => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          if ((await this.responses.stop(id)).cancelled) cancelled.push(id);
        }
      };
      await Promise.all(Array.from({ length: CANCEL_CONCURRENCY }, next));
      affected = cancelled;
      this.logger.warn(`admin ${principal.keyId} cancelled ${cancelled.length} response(s)`);
    }
    const auditId = await this.audit(principal, 'cancel', filter, dryRun, affected);
    return {
      object: 'admin.action',
      action: 'cancel',
      dry_run: dryRun,
      matched: matched.length,
      responses: matched,
      affected: affected.length,
      affected_ids: affected.slice(0, AUDIT_MAX_IDS),
      audit_id: auditId,
    };
  }

  workers(): Promise<WorkerView[]> {
    return this.operations.workers();
  }

  /**
   * Asks a live worker to drain: recorded in Postgres (the worker also reads it there, within
   * a second, should the Redis notice be lost), then announced on the bus.
   */
  async drain(workerId: string, principal: Principal): Promise<WorkerView & { audit_id: number }> {
    if (!(await this.admin.requestDrain(workerId))) {
      throw new RatchetError('not_found', `No live worker with id '${workerId}'.`, {
        param: 'id',
        code: 'worker_not_found',
      });
    }
    await this.bus.publishDrain(workerId);
    this.bus.publishWorkerChange(workerId);
    const auditId = await this.audit(principal, 'drain', { worker_id: workerId }, false, [
      workerId,
    ]);
    const worker = (await this.operations.workers()).find((w) => w.id === workerId);
    if (!worker) {
      throw new RatchetError('not_found', `No live worker with id '${workerId}'.`, {
        param: 'id',
        code: 'worker_not_found',
      });
    }
    return { ...worker, audit_id: auditId };
  }

  async purge(request: PurgeRequest, principal: Principal): Promise<PurgeResult> {
    const ids = await this.admin.purge(request.olderThanSeconds, request.limit, request.dryRun);
    const params = { older_than_seconds: request.olderThanSeconds, limit: request.limit };
    const auditId = await this.audit(principal, 'purge', params, request.dryRun, ids);
    return {
      object: 'admin.purge',
      dry_run: request.dryRun,
      older_than_seconds: request.olderThanSeconds,
      purged: ids.length,
      ids: ids.slice(0, AUDIT_MAX_IDS),
      has_more: ids.length === request.limit,
      audit_id: auditId,
    };
  }

  async auditTrail(query: AuditQuery): Promise<{
    object: 'list';
    data: AuditEntry[];
    first_id: number | null;
    last_id: number | null;
    has_more: boolean;
  }> {
    const rows = await this.admin.audit({
      before: query.after ?? null,
      action: query.action ?? null,
      limit: query.limit + 1,
    });
    const data = rows.slice(0, query.limit);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: rows.length > query.limit,
    };
  }

  async overview(windowSeconds: number): Promise<Overview> {
    const [queue, workers, byStatus, recovery, upstream] = await Promise.all([
      this.queue.counts(),
      this.operations.workers(),
      this.operations.statusCounts(windowSeconds),
      this.operations.recoveryActivity(windowSeconds),
      this.operations.upstreamErrors(windowSeconds),
    ]);
    return {
      object: 'admin.overview',
      generated_at: new Date().toISOString(),
      window_seconds: windowSeconds,
      queues: { [queue.name]: queue.counts },
      workers,
      responses: { by_status: byStatus },
      recovery,
      upstream,
    };
  }

  private filterOf(filter: ResponseFilterBody): ResponseFilter {
    return {
      ids: filter.ids,
      statuses: filter.status,
      model: filter.model,
      ownerId: filter.owner,
      createdBefore: filter.created_before ? new Date(filter.created_before) : undefined,
      createdAfter: filter.created_after ? new Date(filter.created_after) : undefined,
      stuck: filter.stuck,
      idleSeconds: filter.idle_seconds ?? 30,
      limit: filter.limit ?? 1000,
    };
  }

  private audit(
    principal: Principal,
    action: string,
    params: unknown,
    dryRun: boolean,
    affected: readonly string[],
  ): Promise<number> {
    return this.admin.recordAudit({
      actorKeyId: principal.keyId,
      action,
      params,
      dryRun,
      affectedCount: affected.length,
      affectedIds: affected,
    });
  }
}
