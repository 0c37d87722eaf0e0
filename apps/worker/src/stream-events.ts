import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  agentEvent,
  assembleResponse,
  closeOpenItems,
  functionCalls,
  isServerCall,
  isTerminalStep,
  itemEvents,
  ItemStreamer,
  modelResult,
  openServerCall,
  responseEvent,
  scopeRouting,
  serverCallItemId,
  serverCallTarget,
  settledServerCall,
  type AgentIdentity,
  type CallRouting,
  visibleItem,
  type CreateResponseRequest,
  type Includable,
  type Item,
  type McpListToolsItem,
  type ModelItem,
  type ResponseRecord,
  type ResponseStreamEvent,
  type StepRecord,
  type UnsequencedEvent,
} from '@ratchet/core';
import { EventLog, type BatchedWriter } from '@ratchet/events';
import type { ModelDelta } from '@ratchet/providers';
import { EventsRepository, ResponsesRepository, type ScopeSnapshot } from '@ratchet/store';

type Wrap = (event: UnsequencedEvent) => UnsequencedEvent;

/**
 * What the engine logs for a streamed response (`stream: true`), and only for one: its
 * progress, each model call's items as they stream, how each tool round's calls ended, and
 * its end.
 * A sub-agent's scope streams too when the request asked for agent events
 * (`stream_options.agent_events`), each event wrapped as `ratchet:agent.event`.
 *
 * Every write here is safe to repeat: progress and call ends are logged once per step, and
 * the end is logged once per response. A call ratchet runs itself streams as one `mcp_call`
 * item: its model step opens it and logs its arguments before the step's outcome is
 * recorded; the round that ran it closes it once every call of the round has ended.
 */
@Injectable()
export class StreamEvents {
  private readonly logger = new Logger(StreamEvents.name);
  private readonly lingerMs: number;

  constructor(
    config: AppConfig,
    private readonly log: EventLog,
    private readonly events: EventsRepository,
    private readonly responses: ResponsesRepository,
  ) {
    this.lingerMs = config.env.RATCHET_STREAM_LINGER_MS;
  }

  /** Whether the scope's events go to the response's stream. */
  streams(snapshot: ScopeSnapshot): boolean {
    const request = snapshot.response.request;
    return (
      request.stream === true && (snapshot.scope.parentStepId === null || agentEvents(request))
    );
  }

  /**
   * Before a scope's next decision: the response's `response.in_progress` when the top scope
   * starts, and the ends of the round of calls that just completed, in call order.
   */
  async beforeDecision(snapshot: ScopeSnapshot): Promise<void> {
    if (!this.streams(snapshot)) return;
    const { scope, response } = snapshot;
    // A response starts with its top scope, or with a paused tree it adopted (whose top
    // scope showed items in earlier responses already).
    if (scope.parentStepId === null && (snapshot.steps.length === 0 || adopted(snapshot))) {
      await this.inProgress(response.id);
      if (snapshot.steps.length === 0) return;
    }
    await this.roundOutputs(snapshot);
  }

  /** Logs the response's `response.in_progress`, unless it was logged already. */
  private async inProgress(responseId: string): Promise<void> {
    const record = await this.responses.findById(responseId);
    if (!record) return;
    const event = responseEvent(
      'response.in_progress',
      assembleResponse({ ...record, status: 'in_progress' }),
    );
    await this.log.appendOnce(responseId, [event], { unlessType: event.type });
  }

  /**
   * Logs how the calls of the scope's last round ended, when it was a completed round of
   * calls: each call's item, which its model step opened, closes with the call's output or
   * error, in call order.
   */
  async roundOutputs(snapshot: ScopeSnapshot): Promise<void> {
    if (!this.streams(snapshot)) return;
    const round = lastRound(snapshot.steps);
    if (round.length === 0 || round.some((step) => step.kind === 'model_call')) return;
    if (!round.every((step) => isTerminalStep(step.status))) return;
    const asking = snapshot.steps.find(
      (step) => step.kind === 'model_call' && step.round === round[0].round - 1,
    );
    if (!asking) return;
    const output = modelResult(asking)?.output ?? [];
    const routing = routingOf(snapshot);
    const calls = functionCalls(output).filter((call) => isServerCall(routing, call.name));
    const wrap = await this.wrapFor(snapshot);
    // The model step's own events say where it opened each call's item, and what streamed.
    const logged = await this.events.ofStep(snapshot.response.id, asking.id);
    const streamer = ItemStreamer.fromEvents(
      logged.map((row) => unwrap(JSON.parse(row.data) as ResponseStreamEvent)),
    );
    const openAt = new Map(streamer.openItems().map((open) => [open.itemId, open.outputIndex]));
    let first: number | null = null;
    let next = 0;
    const events: UnsequencedEvent[] = [];
    const shown = new Set(snapshot.scope.shownItems);
    for (const step of round) {
      const call = calls[step.index];
      if (!call) continue;
      const settled = settledServerCall(
        call,
        serverCallTarget(routing, call.name, step),
        asking.id,
        step,
      );
      // A call an earlier response showed ended (the tree was adopted from it) is not news.
      if (shown.has(settled.id)) continue;
      const index = openAt.get(settled.id);
      if (index !== undefined) {
        events.push(...streamer.finish(index, settled));
        continue;
      }
      // Never opened (a log written before its model step announced its calls, or a call an
      // adopted tree's earlier response made): it streams whole, after what the scope
      // announced so far.
      if (!adopted(snapshot)) {
        this.logger.warn(`call item ${settled.id} was never opened; it streams whole`);
      }
      if (first === null) next = first = await this.log.nextOutputIndex(snapshot.scope.id);
      events.push(...itemEvents(next++, settled));
    }
    await this.log.appendOnce(snapshot.response.id, wrap ? events.map(wrap) : events, {
      stepId: round[0].id,
      items: first === null ? null : { scopeId: snapshot.scope.id, count: next - first },
    });
  }

  /**
   * A stream for a model step's items, or null when the scope does not stream. A step run
   * again (its earlier attempt died mid-stream) first closes what that attempt left open.
   */
  async modelStream(
    snapshot: ScopeSnapshot,
    step: StepRecord,
    attempt: number,
  ): Promise<ModelStream | null> {
    if (!this.streams(snapshot)) return null;
    const wrap = await this.wrapFor(snapshot);
    const writer = this.log.writer(snapshot.response.id, {
      stepId: step.id,
      scopeId: snapshot.scope.id,
      lingerMs: this.lingerMs,
      wrap: wrap ?? undefined,
    });
    let earlierChars = 0;
    const loggedItemIds = new Set<string>();
    if (attempt > 1) {
      const earlier = await this.events.ofStep(snapshot.response.id, step.id);
      const unwrapped = earlier.map((row) => unwrap(JSON.parse(row.data) as ResponseStreamEvent));
      earlierChars = unwrapped.reduce((sum, event) => sum + deltaChars(event), 0);
      for (const event of unwrapped) {
        if (event.type === 'response.output_item.done') loggedItemIds.add(event.item.id);
      }
      writer.push(closeOpenItems(unwrapped));
      await writer.flush();
    }
    return new ModelStream(
      writer,
      await this.log.nextOutputIndex(snapshot.scope.id),
      step.id,
      routingOf(snapshot),
      this.logger,
      earlierChars,
      snapshot.response.request.include ?? [],
      loggedItemIds,
    );
  }

  /**
   * A paused turn's approval requests, each streamed whole (added, then done) after what the
   * top scope announced, before the response's terminal event. Only the call that ended the
   * response logs them.
   */
  async approvalRequests(top: ScopeSnapshot, output: readonly Item[]): Promise<void> {
    if (!this.streams(top)) return;
    const requests = output.filter((item) => item.type === 'mcp_approval_request');
    if (requests.length === 0) return;
    await this.inProgress(top.response.id);
    const first = await this.log.nextOutputIndex(top.scope.id);
    await this.log.append(
      top.response.id,
      requests.flatMap((item, i) => itemEvents(first + i, item)),
      { items: { scopeId: top.scope.id, count: requests.length } },
    );
  }

  /** Bytes the response's event log holds so far. */
  loggedBytes(responseId: string): Promise<number> {
    return this.events.loggedBytes(responseId);
  }

  /** Logs a streamed response's terminal event (after closing anything still streaming). */
  async ended(record: ResponseRecord): Promise<void> {
    if (record.request.stream) await this.log.close(record);
  }

  private async wrapFor(snapshot: ScopeSnapshot): Promise<Wrap | null> {
    const parentStepId = snapshot.scope.parentStepId;
    if (parentStepId === null) return null;
    const call = await this.events.agentCall(snapshot.response.id, parentStepId);
    const agent: AgentIdentity = {
      step_id: parentStepId,
      call_id: call?.callId ?? null,
      name: call?.name ?? '',
      depth: snapshot.scope.depth,
    };
    return (event) => agentEvent(agent, event);
  }
}

/**
 * One model call's items on the stream: deltas open and fill items as they arrive, each at
 * the next output_index; `finish` closes them with the call's final output. A call ratchet
 * runs itself streams as its `mcp_call` item, which stays open while the call runs.
 */
export class ModelStream {
  private readonly streamer = new ItemStreamer();
  /** Output indexes by the id the model gave each item. */
  private readonly indexes = new Map<string, number>();

  constructor(
    private readonly writer: BatchedWriter,
    private next: number,
    /** The model step whose items these are: its server calls' item ids name it. */
    private readonly stepId: string,
    private readonly routing: CallRouting,
    private readonly logger: Logger,
    /** Characters that earlier attempts of the step streamed before their worker died. */
    readonly earlierChars = 0,
    /** The request's `include`, which says whether reasoning shows its encrypted content. */
    private readonly include: readonly Includable[] = [],
    /** Items earlier attempts of the step logged whole. */
    private readonly loggedItemIds: ReadonlySet<string> = new Set(),
  ) {}

  readonly onDelta = (delta: ModelDelta): void => {
    const index = this.indexOf(delta.itemId);
    switch (delta.type) {
      case 'text':
        return this.writer.push(
          this.streamer.textDelta(index, delta.itemId, delta.delta, delta.phase),
        );
      case 'refusal':
        return this.writer.push(
          this.streamer.refusalDelta(index, delta.itemId, delta.delta, delta.phase),
        );
      case 'reasoning':
        return this.writer.push(this.streamer.reasoningDelta(index, delta.itemId, delta.delta));
      case 'arguments':
        if (isServerCall(this.routing, delta.name)) {
          const target = serverCallTarget(this.routing, delta.name);
          const call = { call_id: delta.callId, name: target.name, server_label: target.label };
          const itemId = serverCallItemId(delta.itemId, this.stepId);
          return this.writer.push(this.streamer.serverCallDelta(index, itemId, call, delta.delta));
        }
        return this.writer.push(
          this.streamer.argumentsDelta(
            index,
            delta.itemId,
            { call_id: delta.callId, name: delta.name },
            delta.delta,
          ),
        );
    }
  };

  /**
   * MCP servers listed before the call: each listing streams whole, before the call's items.
   * One an earlier attempt of the step streamed already is not streamed again.
   */
  async listings(items: readonly McpListToolsItem[]): Promise<void> {
    for (const item of items) {
      if (this.loggedItemIds.has(item.id)) continue;
      this.writer.push(itemEvents(this.indexOf(item.id), item));
    }
    await this.writer.flush();
  }

  /** An attempt that streamed failed and another follows: its items close `incomplete`. */
  readonly onAbandon = (): void => {
    this.writer.push(this.streamer.finishAllIncomplete());
  };

  /**
   * Before the call's outcome is recorded: every item of its output takes its output_index
   * in the log, durably, so nothing logged once the outcome is (the round's tool outputs, the
   * next call's items) can take an index before it, even if this worker dies in between.
   * Streamed items the output dropped close `incomplete`; one the output contradicts (an
   * upstream that revised itself) closes `incomplete` and its final form takes a new index.
   * The items' content and ends follow with `finish`, except a server call's: its arguments
   * are complete here, and the round that runs it ends it (StreamEvents.roundOutputs).
   */
  async announce(output: readonly ModelItem[]): Promise<void> {
    const kept = new Set(output.map((item) => item.id));
    for (const [id, index] of this.indexes) {
      if (!kept.has(id)) this.writer.push(this.streamer.finishIncomplete(index));
    }
    for (const item of this.inOutputOrder(output)) {
      const shown = this.shown(item);
      const streamed = this.indexes.get(item.id);
      if (streamed !== undefined && !this.streamer.accepts(streamed, shown)) {
        this.logger.warn(`item ${item.id} does not match what streamed; it streams again whole`);
        this.writer.push(this.streamer.finishIncomplete(streamed));
        this.indexes.delete(item.id);
      }
      const index = this.indexOf(item.id);
      this.writer.push(
        shown.type === 'mcp_call'
          ? this.streamer.startCall(index, shown)
          : this.streamer.announce(index, shown),
      );
    }
    await this.writer.flush();
  }

  /** Once the outcome is recorded: the announced items finish as the output has them. */
  async finish(output: readonly ModelItem[]): Promise<void> {
    for (const item of this.inOutputOrder(output)) {
      const shown = this.shown(item);
      if (shown.type !== 'mcp_call') {
        this.writer.push(this.streamer.finish(this.indexOf(item.id), shown));
      }
    }
    await this.writer.flush();
  }

  /**
   * An item as the stream shows it: a call ratchet runs itself is its mcp_call item, and
   * reasoning keeps its encrypted content only for clients that asked for it.
   */
  private shown(item: ModelItem): Item {
    if (item.type !== 'function_call' || !isServerCall(this.routing, item.name)) {
      return visibleItem(item, this.include);
    }
    return openServerCall(item, serverCallTarget(this.routing, item.name), this.stepId);
  }

  /** The call failed or was cut short: what streamed stays, closed `incomplete`. */
  async abandon(): Promise<void> {
    this.writer.push(this.streamer.finishAllIncomplete());
    await this.writer.flush();
  }

  /** The output's items by output_index: those that streamed first, then the others. */
  private inOutputOrder(output: readonly ModelItem[]): ModelItem[] {
    const index = (item: ModelItem): number => this.indexes.get(item.id) ?? Infinity;
    return [...output].sort((a, b) => index(a) - index(b));
  }

  private indexOf(itemId: string): number {
    let index = this.indexes.get(itemId);
    if (index === undefined) {
      index = this.next++;
      this.indexes.set(itemId, index);
    }
    return index;
  }
}

/** Which of the scope's calls ratchet runs: all of a sub-agent's, the offered tools' at the top. */
function routingOf(snapshot: ScopeSnapshot): CallRouting {
  return scopeRouting(snapshot.scope, snapshot.steps);
}

/** Whether the scope continues a paused tree that an earlier response showed part of. */
function adopted(snapshot: ScopeSnapshot): boolean {
  return snapshot.scope.shownItems.length > 0;
}

/** Whether the request asked for its sub-agents' events. */
function agentEvents(request: CreateResponseRequest): boolean {
  return request.stream_options?.agent_events === true;
}

function unwrap(event: ResponseStreamEvent): UnsequencedEvent | ResponseStreamEvent {
  return event.type === 'ratchet:agent.event' ? event.event : event;
}

/** Characters of model output a delta event carried. */
function deltaChars(event: UnsequencedEvent | ResponseStreamEvent): number {
  return DELTA_TYPES.has(event.type) && 'delta' in event && typeof event.delta === 'string'
    ? event.delta.length
    : 0;
}

const DELTA_TYPES: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
]);

/** The steps of the scope's last round, in call order. */
function lastRound(steps: readonly StepRecord[]): StepRecord[] {
  const round = steps.reduce((max, step) => Math.max(max, step.round), -1);
  return steps.filter((step) => step.round === round).sort((a, b) => a.index - b.index);
}
