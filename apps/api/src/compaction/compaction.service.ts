import { Injectable, Logger } from '@nestjs/common';
import {
  assertOutputsPaired,
  compactedOutput,
  COMPACTION_SEAL_PURPOSE,
  compactionPayload,
  finalText,
  newId,
  parseCompactRequest,
  RatchetError,
  summaryCall,
  type CompactedResponse,
  type CompactRequest,
  type Item,
  type Usage,
} from '@ratchet/core';
import {
  callWithResilience,
  DEFAULT_RETRY_POLICY,
  ProviderRegistry,
  resolveTargets,
  UpstreamError,
} from '@ratchet/providers';
import { ResponsesRepository, Sealer, type Principal } from '@ratchet/store';
import { InputResolver } from '../items/input-resolver.service';

/**
 * POST /v1/responses/compact, and the compaction items requests send back. A conversation
 * (the request's input after a stored response's, as a continuation would see it) is
 * summarised by the configured model, through the same retries and fallbacks as any model
 * call; the answer keeps the user's messages and replaces everything else by one compaction
 * item, whose summary is sealed under the deployment's key. Nothing is stored: the client
 * holds the compacted conversation, and sends it back as input.
 */
@Injectable()
export class CompactionService {
  private readonly logger = new Logger(CompactionService.name);

  constructor(
    private readonly providers: ProviderRegistry,
    private readonly responses: ResponsesRepository,
    private readonly sealer: Sealer,
    private readonly inputs: InputResolver,
  ) {}

  async compact(
    body: unknown,
    principal: Principal,
    signal: AbortSignal,
  ): Promise<CompactedResponse> {
    const request = parseCompactRequest(body);
    if (!this.providers.has(request.model)) {
      throw new RatchetError('invalid_request', `The model '${request.model}' does not exist.`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
    const input = await this.inputs.resolve(request.input, principal);
    const previousId = request.previous_response_id;
    const previous = previousId ? await this.conversationOf(previousId, principal) : [];
    assertOutputsPaired(previous, input);
    const conversation = [...previous, ...input];
    if (conversation.length === 0) {
      throw RatchetError.invalid(
        'There is nothing to compact: send the conversation as input, or a previous_response_id.',
        'input',
        'missing_required_parameter',
      );
    }
    const { summary, usage } = await this.summarise(request, conversation, signal);
    const encrypted = await this.sealer.seal(COMPACTION_SEAL_PURPOSE, compactionPayload(summary));
    return {
      id: newId('cmp'),
      object: 'response.compaction',
      created_at: Math.floor(Date.now() / 1000),
      output: compactedOutput(conversation, {
        type: 'compaction',
        id: newId('cmp'),
        encrypted_content: encrypted,
      }),
      usage,
    };
  }

  /** The model's summary of `conversation`; upstream trouble as the request's error. */
  private async summarise(
    request: CompactRequest,
    conversation: readonly Item[],
    signal: AbortSignal,
  ): Promise<{ summary: string; usage: Usage }> {
    const call = summaryCall(conversation, request.instructions);
    try {
      const { result } = await callWithResilience(
        resolveTargets(this.providers, request.model),
        {
          model: request.model,
          instructions: call.instructions,
          input: call.input,
          tools: [],
          toolChoice: 'none',
          parallelToolCalls: false,
          maxOutputTokens: null,
          temperature: null,
          topP: null,
          textFormat: null,
          promptCacheKey: request.prompt_cache_key ?? null,
          signal,
        },
        {
          policy: DEFAULT_RETRY_POLICY,
          onAttempt: ({ model, attempt, error, delayMs }) =>
            this.logger.warn(
              `compaction: model '${model}' attempt ${attempt} failed (${error.code}: ${error.message})` +
                (delayMs === null ? '; moving on' : `; retrying in ${delayMs} ms`),
            ),
        },
      );
      const summary = finalText(result.output).trim();
      if (!summary) {
        throw new RatchetError(
          'upstream',
          `The model '${request.model}' answered without writing a summary.`,
          { code: 'empty_summary' },
        );
      }
      const { estimated: _estimated, ...usage } = result.usage;
      return { summary, usage };
    } catch (error) {
      throw summaryFailure(error, request.model, signal);
    }
  }

  /** The conversation a previous response ends with, as a continuation of it would see it. */
  private async conversationOf(previousId: string, principal: Principal): Promise<Item[]> {
    const conversation = await this.responses.conversation(previousId, principal);
    if (!conversation) throw RatchetError.previousResponseNotFound(previousId);
    return conversation;
  }
}

/** A failed summary call as the request's error: never a 500 for the upstream's trouble. */
function summaryFailure(error: unknown, model: string, signal: AbortSignal): unknown {
  if (signal.aborted) {
    return RatchetError.invalid(
      'The request was closed before the summary was written.',
      null,
      'request_cancelled',
    );
  }
  if (!(error instanceof UpstreamError)) return error;
  const message = `The model '${model}' could not summarise the conversation: ${error.message}`;
  switch (error.code) {
    case 'context_length_exceeded':
      return new RatchetError('invalid_request', message, { param: 'input', code: error.code });
    case 'rate_limit_exceeded':
      return new RatchetError('rate_limited', message, { code: error.code });
    default:
      return new RatchetError('upstream', message, { code: error.code, cause: error });
  }
}
