import { Injectable } from '@nestjs/common';
import {
  groupRounds,
  pausedOutput,
  scopeOutput,
  scopeRouting,
  type ResponseRecord,
} from '@ratchet/core';
import {
  ApprovalsRepository,
  ResponsesRepository,
  StepsRepository,
  topScopeId,
} from '@ratchet/store';
import { StreamEvents } from './stream-events';

/**
 * Ends a response's turn when its tree is stuck on calls waiting for approval: nothing else
 * in it can progress. The response completes (as OpenAI's does) with what its top scope
 * produced and an `mcp_approval_request` per waiting call; the tree stays as it is, for the
 * response that answers the requests to adopt.
 */
@Injectable()
export class ApprovalPause {
  constructor(
    private readonly approvals: ApprovalsRepository,
    private readonly steps: StepsRepository,
    private readonly responses: ResponsesRepository,
    private readonly stream: StreamEvents,
  ) {}

  /**
   * Ends the response's turn if it is stuck on approvals; returns it when this call ended it
   * (exactly one caller does, however many look at once).
   */
  async endIfPaused(responseId: string): Promise<ResponseRecord | null> {
    const awaiting = await this.approvals.pausedOn(responseId);
    if (!awaiting || awaiting.length === 0) return null;
    const top = await this.steps.loadScope(topScopeId(responseId));
    if (!top) return null;
    const routing = { ...scopeRouting(top.scope, top.steps), shown: top.scope.shownItems };
    const output = pausedOutput(
      scopeOutput(groupRounds(top.steps), routing, { paused: true }),
      awaiting,
    );
    const ended = await this.responses.finishWithUsage(responseId, {
      status: 'completed',
      output,
    });
    if (ended) await this.stream.approvalRequests(top, output);
    return ended;
  }
}
