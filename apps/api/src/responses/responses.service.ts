import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import {
  assembleResponse,
  isTerminalStatus,
  newId,
  normalizeInput,
  parseCreateResponse,
  RatchetError,
  type Item,
  type ResponseObject,
  type ResponseRecord,
} from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { JobQueue } from '@ratchet/queue';
import { ResponsesRepository, topScopeId, type Principal } from '@ratchet/store';
import { resolveTools } from './tool-resolution';

/** A foreground request re-reads the response at least this often, notices or not. */
const TERMINAL_RECHECK_MS = 1000;

@Injectable()
export class ResponsesService {
  constructor(
    private readonly config: AppConfig,
    private readonly responses: ResponsesRepository,
    private readonly queue: JobQueue,
    private readonly bus: ResponseBus,
  ) {}

  /**
   * Records a response and queues it. Background requests get it back at once, queued;
   * others wait for it to finish (it keeps running if the client goes away).
   */
  async create(body: unknown, principal: Principal, signal: AbortSignal): Promise<ResponseObject> {
    const request = parseCreateResponse(body);
    if (request.stream) {
      throw RatchetError.invalid(
        'Streaming responses are not available in this version of ratchet; omit stream or set it to false.',
        'stream',
        'unsupported_parameter',
      );
    }
    if (!Object.hasOwn(this.config.config.models, request.model)) {
      throw new RatchetError('invalid_request', `The model '${request.model}' does not exist.`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
    const tools = resolveTools(this.config.config, request);
    const inputItems = normalizeInput(request.input);
    const previous = request.previous_response_id
      ? await this.contextOf(request.previous_response_id, principal)
      : [];
    const id = newId('resp');
    const record = await this.responses.create({
      id,
      ownerId: principal.keyId,
      model: request.model,
      request,
      inputItems,
      context: [...previous, ...inputItems],
      tools,
    });
    await this.queue.advance({ responseId: id, scopeId: topScopeId(id) }, 'start');
    if (request.background) return assembleResponse(record);
    return assembleResponse(await this.awaitTerminal(id, signal));
  }

  async get(id: string, principal: Principal): Promise<ResponseObject> {
    const record = await this.responses.find(id, principal);
    if (!record || record.request.store === false) throw RatchetError.responseNotFound(id);
    return assembleResponse(record);
  }

  /** The conversation a follow-up continues: the previous context and its output. */
  private async contextOf(previousId: string, principal: Principal): Promise<Item[]> {
    const context = await this.responses.conversation(previousId, principal);
    if (!context) throw RatchetError.responseNotFound(previousId, 'previous_response_id');
    return context;
  }

  /** Waits until the response is terminal: woken by bus notices, re-checking on a timer. */
  private async awaitTerminal(id: string, signal: AbortSignal): Promise<ResponseRecord> {
    let wake: (() => void) | null = null;
    const unsubscribe = await this.bus.subscribe(id, () => wake?.());
    try {
      for (;;) {
        const record = await this.responses.findById(id);
        if (!record) throw RatchetError.responseNotFound(id);
        if (isTerminalStatus(record.status) || signal.aborted) return record;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, TERMINAL_RECHECK_MS);
          signal.addEventListener('abort', done, { once: true });
          wake = done;
          function done(): void {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          }
        });
      }
    } finally {
      await unsubscribe();
    }
  }
}
