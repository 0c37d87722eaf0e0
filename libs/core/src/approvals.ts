import type { AgentPathEntry, Item, McpApprovalRequestItem } from './items';
import { mcpToolOf, type CallRouting } from './server-calls';
import type { StepError, StepStatus } from './steps';

// Human approvals of server calls. A call that needs one is recorded awaiting it and not run;
// its scope stops there while the rest of the tree goes on, and once nothing else can
// progress the response ends its turn with an `mcp_approval_request` per waiting call. The
// client answers with `mcp_approval_response` items in a response that continues it, which
// adopts the paused tree: an approved call runs, a denied (or expired) one gets a refusal its
// model reads, each inside the scope that made it.

/**
 * Which calls of a tool source need approval, as OpenAI's `require_approval` says it:
 * `always`, `never`, or tool names that do (`always`) and do not (`never`). A tool a filter
 * names in neither list needs approval, OpenAI's default.
 */
export type ApprovalPolicy =
  'always' | 'never' | { always: string[] | null; never: string[] | null };

/** Whether a call of `tool` under `policy` (none: never) waits for a human's approval. */
export function needsApproval(policy: ApprovalPolicy | undefined, tool: string): boolean {
  if (policy === undefined || policy === 'never') return false;
  if (policy === 'always') return true;
  if (policy.never?.includes(tool)) return false;
  return true;
}

/**
 * Whether a call the model made to `name` needs approval: by the policy of the configured
 * tool of that name, or of the MCP server whose tool it is (for the tool's own name).
 */
export function callNeedsApproval(routing: CallRouting, name: string): boolean {
  const approvals = routing.approvals;
  if (!approvals) return false;
  if (Object.hasOwn(routing.serverTools, name)) {
    return Object.hasOwn(approvals, name) && needsApproval(approvals[name], name);
  }
  const mcp = mcpToolOf(routing, name);
  if (!mcp || !Object.hasOwn(approvals, mcp.label)) return false;
  return needsApproval(approvals[mcp.label], mcp.tool);
}

/** The id of the approval request a step makes: what the client's answer names. */
export function approvalRequestId(stepId: string): string {
  return `mcpr_${stepId.replace(/^step_/, '')}`;
}

/** A human's (or the clock's) answer to an approval request, as the step records it. */
export interface ApprovalDecision {
  approve: boolean;
  reason: string | null;
  /** The API key that answered; null when the request expired unanswered. */
  decided_by: string | null;
  decided_at: string;
  /** The response whose request carried the answer (or that found it expired). */
  response_id: string;
  expired?: boolean;
}

/** What a step that asked for approval records (`steps.approval`). */
export interface StepApproval {
  id: string;
  server_label: string;
  name: string;
  requested_at: string;
  expires_at: string;
  decision: ApprovalDecision | null;
}

/** What a denied call gives its model, in place of an output. */
export function refusalOf(decision: ApprovalDecision): StepError {
  if (decision.expired) {
    return {
      code: 'approval_expired',
      message: 'The call was not run: nobody approved it before its approval request expired.',
    };
  }
  return {
    code: 'approval_denied',
    message: `The call was not run: the user denied it${decision.reason ? `: ${decision.reason}` : '.'}`,
  };
}

/** An awaiting call of the tree, with the agent calls that lead to its scope. */
export interface AwaitingCall {
  approval: StepApproval;
  arguments: string;
  agentPath: AgentPathEntry[];
}

/** The `mcp_approval_request` item a waiting call shows clients. */
export function approvalRequestItem(call: AwaitingCall): McpApprovalRequestItem {
  return {
    type: 'mcp_approval_request',
    id: call.approval.id,
    server_label: call.approval.server_label,
    name: call.approval.name,
    arguments: call.arguments,
    ...(call.agentPath.length > 0 ? { agent_path: call.agentPath } : {}),
  };
}

/**
 * The output of a response that ends its turn paused: what its top scope produced (without
 * the calls still waiting), then a request for every waiting call of the tree.
 */
export function pausedOutput(topItems: readonly Item[], awaiting: readonly AwaitingCall[]): Item[] {
  return [...topItems, ...awaiting.map(approvalRequestItem)];
}

/** One answer a request carries, by its position in `input`. */
export interface ApprovalAnswer {
  approvalRequestId: string;
  approve: boolean;
  reason: string | null;
  /** Index of the item in the request's `input`, for the error's `param`. */
  inputIndex: number;
}

/** The `mcp_approval_response` items of an input, with where each is. */
export function approvalAnswers(input: readonly Item[]): ApprovalAnswer[] {
  const answers: ApprovalAnswer[] = [];
  input.forEach((item, inputIndex) => {
    if (item.type !== 'mcp_approval_response') return;
    answers.push({
      approvalRequestId: item.approval_request_id,
      approve: item.approve,
      reason: item.reason,
      inputIndex,
    });
  });
  return answers;
}

/** A call of a paused tree that asked for approval, as the response that answers finds it. */
export interface ApprovalCandidate {
  stepId: string;
  status: StepStatus;
  approval: StepApproval;
}

/** A decision to record on a waiting call: it runs (pending) or is refused (failed). */
export interface DecidedCall {
  stepId: string;
  approval: StepApproval;
  status: 'pending' | 'failed';
  error: StepError | null;
}

/** What a request's answers decide, or the first answer that cannot be taken. */
export type AnswersChecked =
  | { type: 'decided'; calls: DecidedCall[] }
  | { type: 'unknown'; answer: ApprovalAnswer }
  | { type: 'conflict'; answer: ApprovalAnswer; earlier: ApprovalDecision };

/**
 * Applies a request's answers to the calls of a paused tree. An answer must name a call of
 * the tree; one that repeats a decision already made is taken as it (answering twice is
 * idempotent), one that contradicts it is refused. A waiting call whose request expired
 * (`expires_at` passed, or the sweeper recorded it expired) is refused as expired, answered
 * or not. Calls left unanswered keep waiting, and are asked about again.
 */
export function decideApprovals(
  answers: readonly ApprovalAnswer[],
  candidates: readonly ApprovalCandidate[],
  by: { keyId: string; responseId: string; now: Date },
): AnswersChecked {
  const byId = new Map(candidates.map((candidate) => [candidate.approval.id, candidate]));
  const decided = new Map<string, ApprovalDecision>();
  for (const answer of answers) {
    const candidate = byId.get(answer.approvalRequestId);
    if (!candidate) return { type: 'unknown', answer };
    const earlier = candidate.approval.decision ?? decided.get(candidate.stepId) ?? null;
    if (earlier) {
      // A request that expired is refused whatever a late answer says.
      if (earlier.approve !== answer.approve && !earlier.expired) {
        return { type: 'conflict', answer, earlier };
      }
      continue;
    }
    if (candidate.status !== 'awaiting_approval') return { type: 'unknown', answer };
    decided.set(candidate.stepId, {
      approve: answer.approve,
      reason: answer.reason,
      decided_by: by.keyId,
      decided_at: by.now.toISOString(),
      response_id: by.responseId,
    });
  }
  const calls: DecidedCall[] = [];
  for (const candidate of candidates) {
    if (candidate.status !== 'awaiting_approval') continue;
    const expired = new Date(candidate.approval.expires_at) <= by.now;
    // A decision recorded while the call waited (its request expired) applies as it is.
    const decision: ApprovalDecision | undefined = candidate.approval.decision
      ? candidate.approval.decision
      : expired
        ? {
            approve: false,
            reason: null,
            decided_by: null,
            decided_at: by.now.toISOString(),
            response_id: by.responseId,
            expired: true,
          }
        : decided.get(candidate.stepId);
    if (!decision) continue;
    calls.push({
      stepId: candidate.stepId,
      approval: { ...candidate.approval, decision },
      status: decision.approve ? 'pending' : 'failed',
      error: decision.approve ? null : refusalOf(decision),
    });
  }
  return { type: 'decided', calls };
}
