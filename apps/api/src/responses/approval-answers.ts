import { Injectable } from '@nestjs/common';
import {
  approvalAnswers,
  conversationIdOf,
  decideApprovals,
  RatchetError,
  type ApprovalAnswer,
  type CreateResponseRequest,
  type Item,
  type ResponseRecord,
  type ScopeTools,
} from '@ratchet/core';
import {
  AdoptionRepository,
  Sealer,
  type Adoption,
  type NewResponse,
  type Principal,
} from '@ratchet/store';
import { mcpHeadersPurpose } from '@ratchet/tools';

/**
 * A request that answers approval requests (`mcp_approval_response` items) continues the
 * response that asked them (`previous_response_id`) by adopting its paused tree: the new
 * response records the decisions (who, by API key, and when) and carries on from there.
 */
@Injectable()
export class ApprovalAnswers {
  constructor(
    private readonly adoptions: AdoptionRepository,
    private readonly sealer: Sealer,
  ) {}

  /** The request's answers, checked for what they need; none when it carries none. */
  answersOf(request: CreateResponseRequest, input: readonly Item[]): ApprovalAnswer[] {
    const answers = approvalAnswers(input);
    if (answers.length === 0) return answers;
    const first = `input[${answers[0].inputIndex}]`;
    if (!request.previous_response_id && conversationIdOf(request) === null) {
      throw RatchetError.invalid(
        'An mcp_approval_response answers a request of an earlier response: send it with that response as previous_response_id, or in the conversation whose last response it is.',
        first,
        'missing_previous_response_id',
      );
    }
    const other = input.findIndex((item) => item.type !== 'mcp_approval_response');
    if (other !== -1) {
      throw RatchetError.invalid(
        'A request that answers approvals carries only mcp_approval_response items: the paused work goes on from where it stopped, and new input can follow in the next turn.',
        `input[${other}]`,
        'invalid_value',
      );
    }
    return answers;
  }

  /**
   * Records the adopting response; returns it with the scopes its decisions resume. A
   * response not stored is adopted only when `held` by the caller (its WebSocket connection).
   */
  async adopt(
    request: CreateResponseRequest,
    principal: Principal,
    answers: readonly ApprovalAnswer[],
    build: (history: Item[]) => NewResponse,
    held = false,
  ): Promise<{ record: ResponseRecord; resume: string[] }> {
    const conversationId = conversationIdOf(request);
    // Where the requests wait: filled in once the adopted response is known.
    let previousId = request.previous_response_id ?? '';
    let responseId = '';
    const adoption: Adoption = {
      build: (history) => {
        const response = build(history);
        responseId = response.id;
        return response;
      },
      decide: (candidates) => {
        const checked = decideApprovals(answers, candidates, {
          keyId: principal.keyId,
          responseId,
          now: new Date(),
        });
        switch (checked.type) {
          case 'decided':
            return checked.calls;
          case 'unknown':
            throw unknownRequest(checked.answer, previousId, conversationId);
          case 'conflict':
            throw RatchetError.invalid(
              `Approval request '${checked.answer.approvalRequestId}' was already ${checked.earlier.approve ? 'approved' : 'denied'} (in response ${checked.earlier.response_id}); a decision cannot be changed.`,
              `input[${checked.answer.inputIndex}].approve`,
              'approval_already_decided',
            );
        }
      },
      tools: (tools) => this.resealed(previousId, () => responseId, tools),
      held,
    };
    const adopted =
      conversationId === null
        ? await this.adoptions.adopt(previousId, principal, adoption)
        : await this.adoptions.adoptInConversation(conversationId, principal, {
            ...adoption,
            adopting: (id) => (previousId = id),
          });
    switch (adopted.type) {
      case 'created':
        return { record: adopted.record, resume: adopted.resume };
      case 'not_found':
        throw RatchetError.previousResponseNotFound(previousId);
      case 'adopted_already':
        throw RatchetError.invalid(
          `The approvals of response '${previousId}' were answered already, by response '${adopted.by}': continue from that one.`,
          conversationId === null ? 'previous_response_id' : 'conversation',
          'approval_already_decided',
        );
      case 'conversation_not_found':
        throw RatchetError.conversationNotFound(conversationId ?? '', 'conversation');
      case 'locked':
        throw RatchetError.conversationLocked(conversationId ?? '', adopted.responseId);
      case 'nothing_paused':
        throw unknownRequest(answers[0], previousId, conversationId);
    }
  }

  /** The adopted scope's MCP headers, sealed again for the adopting response. */
  private async resealed(
    previousId: string,
    responseId: () => string,
    tools: ScopeTools,
  ): Promise<ScopeTools> {
    if (!tools.remote) return tools;
    const remote = { ...tools.remote };
    for (const [label, server] of Object.entries(remote)) {
      if (server.sealedHeaders === null) continue;
      const opened = await this.sealer.unseal(
        mcpHeadersPurpose(previousId, label),
        server.sealedHeaders,
      );
      remote[label] = {
        ...server,
        sealedHeaders: opened.ok
          ? await this.sealer.seal(mcpHeadersPurpose(responseId(), label), opened.plaintext)
          : null,
      };
    }
    return { ...tools, remote };
  }
}

/** The answer names no request that waits where the request says. */
function unknownRequest(
  answer: ApprovalAnswer,
  previousId: string,
  conversationId: string | null,
): RatchetError {
  const where =
    conversationId === null
      ? `response '${previousId}'`
      : `the last response of conversation '${conversationId}'`;
  return RatchetError.invalid(
    `No approval request with id '${answer.approvalRequestId}' waits in ${where}.`,
    `input[${answer.inputIndex}].approval_request_id`,
    'approval_request_not_found',
  );
}
