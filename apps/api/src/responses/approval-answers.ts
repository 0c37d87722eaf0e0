import { Injectable } from '@nestjs/common';
import {
  approvalAnswers,
  decideApprovals,
  RatchetError,
  type ApprovalAnswer,
  type CreateResponseRequest,
  type Item,
  type ResponseRecord,
  type ScopeTools,
} from '@ratchet/core';
import { AdoptionRepository, Sealer, type NewResponse, type Principal } from '@ratchet/store';
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
    if (!request.previous_response_id) {
      throw RatchetError.invalid(
        'An mcp_approval_response answers a request of an earlier response: send it with that response as previous_response_id.',
        first,
        'missing_previous_response_id',
      );
    }
    if (request.conversation != null) {
      throw RatchetError.invalid(
        'Approvals are answered with previous_response_id, not in a conversation.',
        'conversation',
        'invalid_value',
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
    const previousId = request.previous_response_id ?? '';
    let responseId = '';
    const adopted = await this.adoptions.adopt(previousId, principal, {
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
            throw RatchetError.invalid(
              `No approval request with id '${checked.answer.approvalRequestId}' waits in response '${previousId}'.`,
              `input[${checked.answer.inputIndex}].approval_request_id`,
              'approval_request_not_found',
            );
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
    });
    switch (adopted.type) {
      case 'created':
        return { record: adopted.record, resume: adopted.resume };
      case 'not_found':
        throw RatchetError.previousResponseNotFound(previousId);
      case 'adopted_already':
        throw RatchetError.invalid(
          `The approvals of response '${previousId}' were answered already, by response '${adopted.by}': continue from that one.`,
          'previous_response_id',
          'approval_already_decided',
        );
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
