import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  assembleResponse,
  assertOutputsPaired,
  conversationIdOf,
  groupRounds,
  isTerminalStatus,
  itemList,
  newId,
  parseCreateResponse,
  RatchetError,
  refuseIncludesForModel,
  responseEvent,
  scopeOutput,
  scopeRouting,
  type CreateResponseRequest,
  type Item,
  type ItemList,
  type ResponseObject,
  type ResponseRecord,
  type UnsequencedEvent,
  type ScopeTools,
} from '@ratchet/core';
import { EventLog, ResponseBus } from '@ratchet/events';
import { JobQueue } from '@ratchet/queue';
import { responseEnded } from '@ratchet/telemetry';
import {
  firstStepOf,
  ProgressRepository,
  ResponsesRepository,
  Sealer,
  StepsRepository,
  topScopeId,
  type NewResponse,
  type Principal,
} from '@ratchet/store';
import {
  mcpAllowListOf,
  mcpHeadersPurpose,
  requestMcpHeaders,
  resolveRequestTools,
  withoutMcpSecrets,
} from '@ratchet/tools';
import { InputResolver } from '../items/input-resolver.service';
import { ApprovalAnswers } from './approval-answers';
import type { InputItemsQuery } from './input-items.query';
import { progressView, type ProgressView } from './progress';
import { TerminalWaits, type ClientGone, type TerminalWait } from './terminal-waits';

/**
 * What creating a response gives the caller: the response, or its stream to follow with
 * the conversation it continues (its context; null for a replay, whose first request had it).
 * `replayed` says it was created earlier, by a request with the same Idempotency-Key.
 */
export type Created = (
  | { type: 'response'; response: ResponseObject }
  | { type: 'stream'; responseId: string; context: Item[] | null }
) & { replayed: boolean };

/** What recording a request leaves to do: answer it now, or wait for the response's end. */
type Started = Created | { type: 'waiting'; watch: TerminalWait; replayed: boolean };

export interface CreateOptions {
  /** The request's Idempotency-Key, if it had one. */
  idempotencyKey?: string | null;
  /** The trace the response's work joins (see traceparentToStore). */
  traceparent?: string | null;
  /**
   * Conversations only the caller holds, by response id: WebSocket mode continues its
   * connection's store:false responses from them (Postgres offers those to nobody).
   * Asked before Postgres.
   */
  heldConversation?: (responseId: string) => Item[] | undefined;
}

/** A request's Idempotency-Key with a hash of its body, to tell a retry from a new request. */
interface Idempotency {
  key: string;
  requestHash: string;
}

@Injectable()
export class ResponsesService {
  constructor(
    private readonly config: AppConfig,
    private readonly responses: ResponsesRepository,
    private readonly steps: StepsRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
    private readonly log: EventLog,
    private readonly progress: ProgressRepository,
    private readonly inputs: InputResolver,
    private readonly waits: TerminalWaits,
    private readonly sealer: Sealer,
    private readonly approvals: ApprovalAnswers,
  ) {
    // A config whose MCP allow-list does not read stops startup, not a request.
    mcpAllowListOf(config.config);
  }

  /**
   * Records a response and queues it. Streamed requests get its event stream; background
   * requests get it back at once, queued; others wait for it to finish. Whatever the client
   * does meanwhile, the response runs to its end.
   */
  async create(
    body: unknown,
    principal: Principal,
    gone: ClientGone,
    options: CreateOptions = {},
  ): Promise<Created> {
    const started = await this.start(body, principal, options);
    if (started.type !== 'waiting') return started;
    // While the request waits, this frame holds only the wait: the parsed request, its
    // context and the recorded response belonged to start()'s, and are garbage by now.
    const { watch, replayed } = started;
    try {
      return { type: 'response', response: assembleResponse(await watch.ended(gone)), replayed };
    } finally {
      watch.close();
    }
  }

  /**
   * Records a response and queues it: what a streamed or background request is answered
   * with, or, for a foreground one, the wait for its end.
   */
  private async start(
    body: unknown,
    principal: Principal,
    { idempotencyKey = null, heldConversation, traceparent = null }: CreateOptions,
  ): Promise<Started> {
    const parsed = parseCreateResponse(body);
    // MCP headers are sealed into the scope's tools below; nothing else keeps them.
    const request = withoutMcpSecrets(parsed);
    if (!Object.hasOwn(this.config.config.models, request.model)) {
      throw new RatchetError('invalid_request', `The model '${request.model}' does not exist.`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
    refuseIncludesForModel(request.include, {
      name: request.model,
      provider: this.config.config.models[request.model].provider,
    });
    const resolved = resolveRequestTools(this.config.config, parsed);
    const idempotency =
      idempotencyKey === null ? null : { key: idempotencyKey, requestHash: hashRequest(body) };
    if (idempotency) {
      const earlier = await this.earlierRequest(principal, idempotency);
      if (earlier) return this.replay(earlier, request);
    }
    // Item references resolve and compaction items open here, so a request with one that
    // does not is refused before anything is recorded.
    const inputItems = await this.inputs.resolve(request.input, principal);
    const answers = this.approvals.answersOf(request, inputItems);
    const id = newId('resp');
    const tools = await this.sealMcpHeaders(id, resolved, requestMcpHeaders(parsed));
    let context: Item[] = [];
    const response = (history: Item[]): NewResponse => {
      assertOutputsPaired(history, inputItems);
      context = [...history, ...inputItems];
      return {
        id,
        ownerId: principal.keyId,
        model: request.model,
        request,
        inputItems,
        context,
        tools,
        deadlineAt: new Date(Date.now() + this.config.config.limits.maxDurationMs),
        events: request.stream ? openingEvents : undefined,
        idempotency,
        traceparent,
      };
    };
    const conversationId = conversationIdOf(request);
    // A foreground caller hears of its response only once it has ended.
    const waits = !request.background && !request.stream;
    // A foreground caller listens before the work is queued, so no notice can slip past.
    const watching = waits ? this.waits.watch(id) : null;
    // Scopes of an adopted tree (approvals answered) whose round the answers completed.
    let resume: string[] = [];
    let record: Promise<ResponseRecord>;
    // The job of a response that is queued while its create statement runs.
    let queued: Promise<void> | null = null;
    if (answers.length > 0) {
      record = this.approvals
        .adopt(request, principal, answers, response, isHeld(request, heldConversation))
        .then((adopted) => {
          resume = adopted.resume;
          return adopted.record;
        });
    } else if (conversationId !== null) {
      record = this.createInConversation(conversationId, principal, response);
    } else {
      // A response queued as below has its first model call recorded with it, and the call's
      // job carries the scope, so that the worker makes the call before writing anything
      // (first-step.ts in libs/store; docs/cpu.md, "The first model call rides with the
      // response"). A streamed one starts as before: its log has response.in_progress before
      // the call streams.
      const ready = this.previousContext(request, principal, heldConversation).then((history) => {
        const fields = response(history);
        const first =
          idempotency === null && !request.stream
            ? firstStepOf(fields, this.config.config.limits)
            : null;
        return { fields: { ...fields, firstStepId: first?.stepId ?? null }, first };
      });
      // Heard of only at its end, whose commit waits for the disk: this one need not
      // (relaxed-commit.sql.ts in libs/store).
      record = ready.then(({ fields }) => this.responses.create({ ...fields, relaxed: waits }));
      // Once it is ready to record, such a response has nothing left to be refused for, but
      // for an Idempotency-Key that a concurrent request takes first. Without a key, its job
      // goes to the queue while the create statement runs, rather than after it commits; the
      // worker waits for the response should it take the job first (docs/cpu.md, "Queued
      // while it is created").
      if (idempotency === null) {
        queued = Promise.all([ready, watching]).then(([{ first }]) =>
          first
            ? this.queue.runFirst({ responseId: id, stepId: first.stepId, scope: first.scope })
            : this.queue.advance(
                { responseId: id, scopeId: topScopeId(id), beforeCommit: true },
                'start',
              ),
        );
      }
    }
    let created: ResponseRecord;
    let watch: TerminalWait | null;
    try {
      [created, watch] = await Promise.all([record, watching, queued]);
    } catch (error) {
      // Not created (a conversation in use, say), or not queued: stop listening for it.
      await watching?.then(
        (unused) => unused.close(),
        () => undefined,
      );
      // Two requests with one key raced, and the other one created the response.
      const earlier =
        idempotency && isKeyTaken(error) && (await this.earlierRequest(principal, idempotency));
      if (earlier) return this.replay(earlier, request);
      throw error;
    }
    try {
      if (!queued) await this.queue.advance({ responseId: id, scopeId: topScopeId(id) }, 'start');
      for (const scopeId of resume) await this.queue.advance({ responseId: id, scopeId }, 'start');
    } catch (error) {
      watch?.close();
      throw error;
    }
    this.bus.publishChange(id);
    if (request.stream) return { type: 'stream', responseId: id, context, replayed: false };
    if (watch) return { type: 'waiting', watch, replayed: false };
    return { type: 'response', response: assembleResponse(created), replayed: false };
  }

  /**
   * The response an earlier request with this Idempotency-Key created, if the key is still
   * remembered. The same key with another request is refused: it is a client bug, and
   * answering with the other request's response would hide it.
   */
  private async earlierRequest(
    principal: Principal,
    idempotency: Idempotency,
  ): Promise<string | null> {
    const earlier = await this.responses.findByIdempotencyKey(principal.keyId, idempotency.key);
    if (!earlier) return null;
    if (Date.now() - earlier.createdAt.getTime() > this.config.env.RATCHET_IDEMPOTENCY_TTL_MS) {
      await this.responses.forgetIdempotencyKey(earlier.id);
      return null;
    }
    if (earlier.requestHash !== idempotency.requestHash) {
      throw new RatchetError(
        'conflict',
        `Idempotency-Key '${idempotency.key}' was already used with a different request (response ${earlier.id}). Use a new key for a new request.`,
        { param: 'Idempotency-Key', code: 'idempotency_key_reused' },
      );
    }
    return earlier.id;
  }

  /** Answers a repeated request as the original was answered, from the response it made. */
  private async replay(id: string, request: CreateResponseRequest): Promise<Started> {
    if (request.stream) return { type: 'stream', responseId: id, context: null, replayed: true };
    if (request.background) {
      const record = await this.responses.findById(id);
      if (!record) throw RatchetError.responseNotFound(id);
      return { type: 'response', response: assembleResponse(record), replayed: true };
    }
    return { type: 'waiting', watch: await this.waits.watch(id), replayed: true };
  }

  async get(id: string, principal: Principal): Promise<ResponseObject> {
    return assembleResponse(await this.visible(id, principal));
  }

  /**
   * Checks that a response's events can be streamed: it must have been created with
   * `stream: true` (only those have an event log).
   */
  async streamable(id: string, principal: Principal): Promise<void> {
    const record = await this.visible(id, principal);
    if (!record.request.stream) {
      throw RatchetError.invalid(
        `Response '${id}' was not created with stream: true, so it has no events to stream. Retrieve it without stream=true.`,
        'stream',
        'invalid_value',
      );
    }
  }

  /**
   * Cancels a background response: it ends `cancelled` with what it produced so far, its
   * open steps end too, and every process aborts the response's in-flight requests.
   * Cancelling a finished response returns it unchanged.
   */
  async cancel(id: string, principal: Principal): Promise<ResponseObject> {
    const record = await this.visible(id, principal);
    if (!record.request.background) {
      throw RatchetError.invalid(
        'Only background responses can be cancelled.',
        null,
        'response_not_cancellable',
      );
    }
    if (isTerminalStatus(record.status)) return assembleResponse(record);
    const { record: cancelled } = await this.stop(id);
    return assembleResponse(cancelled ?? (await this.visible(id, principal)));
  }

  /**
   * The one way a live response is cancelled, for its owner's cancel and an operator's alike:
   * it ends `cancelled` with what it produced so far, its open steps end, every process
   * aborts its in-flight requests, and its stream and waiters learn of the end. Says whether
   * this call ended it (false: it had ended already), with the response as it now is.
   */
  async stop(id: string): Promise<{ cancelled: boolean; record: ResponseRecord | null }> {
    const snapshot = await this.steps.loadScope(topScopeId(id));
    const output = snapshot
      ? scopeOutput(groupRounds(snapshot.steps), scopeRouting(snapshot.scope, snapshot.steps))
      : [];
    // Usage of what ran so far; calls cut short add their estimates as they stop.
    const ended = await this.responses.finishWithUsage(id, { status: 'cancelled', output });
    await this.steps.cancelOpenSteps(id);
    await this.bus.publishCancel(id);
    if (ended) responseEnded(ended);
    const cancelled = await this.responses.findById(id);
    if (cancelled?.request.stream) await this.log.close(cancelled);
    await this.bus.publish({ type: 'terminal', responseId: id });
    this.bus.publishChange(id);
    return { cancelled: ended !== null, record: cancelled };
  }

  /**
   * The request's MCP servers with their headers sealed for this response and server
   * (`mcpHeadersPurpose`), so that any worker can open them, and no one reads them at rest.
   */
  private async sealMcpHeaders(
    responseId: string,
    tools: ScopeTools,
    headers: Record<string, Record<string, string>>,
  ): Promise<ScopeTools> {
    if (!tools.remote) return tools;
    const remote = { ...tools.remote };
    for (const [label, sent] of Object.entries(headers)) {
      if (!Object.hasOwn(remote, label)) continue;
      const sealedHeaders = await this.sealer.seal(
        mcpHeadersPurpose(responseId, label),
        JSON.stringify(sent),
      );
      remote[label] = { ...remote[label], sealedHeaders };
    }
    return { ...tools, remote };
  }

  /** Deletes a response and everything recorded for it; in-flight work is aborted. */
  async delete(
    id: string,
    principal: Principal,
  ): Promise<{ id: string; object: 'response'; deleted: true }> {
    const record = await this.visible(id, principal);
    if (!(await this.responses.delete(id, principal))) throw RatchetError.responseNotFound(id);
    if (!isTerminalStatus(record.status)) await this.bus.publishCancel(id);
    this.bus.publishChange(id);
    return { id, object: 'response', deleted: true };
  }

  /** The response's steps and what it waits for (ratchet's own endpoint). */
  async progressOf(id: string, principal: Principal): Promise<ProgressView> {
    const record = await this.visible(id, principal);
    return progressView(id, record.status, await this.progress.steps(id), new Date());
  }

  async inputItems(id: string, principal: Principal, query: InputItemsQuery): Promise<ItemList> {
    await this.visible(id, principal);
    const page = await this.responses.inputItems(id, query);
    if (!page) {
      throw RatchetError.invalid(
        `No input item with id '${query.after}' in response '${id}'.`,
        'after',
        'invalid_value',
      );
    }
    return itemList(page.items, page.hasMore);
  }

  /** A response the principal may see: its own (or any, for admins), and stored. */
  private async visible(id: string, principal: Principal): Promise<ResponseRecord> {
    const record = await this.responses.find(id, principal);
    if (!record || record.request.store === false) throw RatchetError.responseNotFound(id);
    return record;
  }

  /**
   * What a follow-up continues: the previous response's context and its output, from what
   * the caller holds (a WebSocket's store:false responses) or from Postgres.
   */
  private async previousContext(
    request: CreateResponseRequest,
    principal: Principal,
    held?: (responseId: string) => Item[] | undefined,
  ): Promise<Item[]> {
    const previousId = request.previous_response_id;
    if (!previousId) return [];
    const holding = held?.(previousId);
    if (holding) return holding;
    const context = await this.responses.conversation(previousId, principal);
    if (!context) throw RatchetError.previousResponseNotFound(previousId);
    return context;
  }

  /**
   * Records a response in a conversation, which it reads as its context. One response of a
   * conversation runs at a time; another one while it is queued or in progress is refused.
   */
  private async createInConversation(
    conversationId: string,
    principal: Principal,
    response: (history: Item[]) => NewResponse,
  ): Promise<ResponseRecord> {
    const created = await this.responses.createInConversation(conversationId, principal, response);
    switch (created.type) {
      case 'created':
        return created.record;
      case 'not_found':
        throw RatchetError.conversationNotFound(conversationId, 'conversation');
      case 'locked':
        throw RatchetError.conversationLocked(conversationId, created.responseId);
    }
  }
}

/** Whether the caller holds the response the request continues (a WebSocket's store:false). */
function isHeld(request: CreateResponseRequest, held: CreateOptions['heldConversation']): boolean {
  const previousId = request.previous_response_id;
  return previousId != null && held?.(previousId) !== undefined;
}

/**
 * A streamed response's first events: `response.created` (and `response.queued` for a
 * background one) carrying the response as recorded. A foreground response is shown
 * in_progress from the start, as OpenAI shows it; a background one waits in the queue.
 */
function openingEvents(record: ResponseRecord): UnsequencedEvent[] {
  const background = record.request.background === true;
  const response = assembleResponse({ ...record, status: background ? 'queued' : 'in_progress' });
  return background
    ? [responseEvent('response.created', response), responseEvent('response.queued', response)]
    : [responseEvent('response.created', response)];
}

/** A hash of a request body that ignores the order of object keys. */
function hashRequest(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Whether creating failed on the unique (owner, Idempotency-Key) of another response. */
function isKeyTaken(error: unknown): boolean {
  const pg = error as { code?: string; constraint?: string };
  return pg.code === '23505' && (pg.constraint ?? '').includes('idempotency_key');
}
