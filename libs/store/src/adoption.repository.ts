import { Injectable } from '@nestjs/common';
import type {
  ApprovalCandidate,
  DecidedCall,
  Item,
  ResponseRecord,
  ResponseStatus,
  ScopeTools,
} from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import type { PoolClient } from 'pg';
import { ADOPTION_SQL } from './adoption.sql';
import { CONVERSATIONS_SQL } from './conversations.sql';
import { insertResponse, lockConversation, type NewResponse } from './responses.repository';
import { Sql } from './sql';

/** What adopting a paused tree did. */
export type Adopted =
  | {
      type: 'created';
      record: ResponseRecord;
      /** Scopes of the new response whose round the decisions completed: to advance. */
      resume: string[];
    }
  | { type: 'not_found' }
  | { type: 'adopted_already'; by: string };

/** What adopting the paused tree of a conversation's last response did. */
export type AdoptedInConversation =
  | Adopted
  | { type: 'conversation_not_found' }
  /** The conversation's last response is still running. */
  | { type: 'locked'; responseId: string }
  /** The conversation has no response whose approvals could be answered. */
  | { type: 'nothing_paused' };

/** How the adopting response is made, from what the adopted one holds. */
export interface Adoption {
  /** The adopting response, continuing `history` (the adopted one's context and output). */
  build(history: Item[]): NewResponse;
  /** The decisions the request's answers make on the adopted tree's calls (or throws). */
  decide(candidates: ApprovalCandidate[]): DecidedCall[];
  /** The adopted top scope's tools, as the adopting response keeps them (headers resealed). */
  tools(adopted: ScopeTools): Promise<ScopeTools>;
  /**
   * The caller holds the adopted response though it was not stored (`store: false`, on the
   * WebSocket connection that made it), so it may be adopted all the same.
   */
  held?: boolean;
}

/**
 * A response that answers approvals adopts the tree its previous response paused: in one
 * transaction, under that response's lock (so a tree is adopted once), the new response is
 * recorded and the open scopes of the paused tree are copied into it, decisions applied.
 */
@Injectable()
export class AdoptionRepository {
  constructor(private readonly sql: Sql) {}

  async adopt(previousId: string, principal: Principal, adoption: Adoption): Promise<Adopted> {
    return this.sql.transaction(async (client) => {
      const previous = await lockAdopted(client, previousId, principal, adoption.held === true);
      if (!previous) return { type: 'not_found' };
      const history = [...previous.context, ...(previous.output ?? [])];
      return this.adoptLocked(client, previousId, previous, history, adoption);
    });
  }

  /**
   * Adopts the tree of a conversation's last response, which the new response continues (the
   * conversation's items are its history) and then holds, as any response in a conversation
   * does: one runs at a time.
   */
  async adoptInConversation(
    conversationId: string,
    principal: Principal,
    adoption: Adoption & {
      /** Told which response is adopted (the conversation's last), before anything is decided. */
      adopting(responseId: string): void;
    },
  ): Promise<AdoptedInConversation> {
    return this.sql.transaction(async (client) => {
      const turn = await lockConversation(client, conversationId, principal);
      if (turn.type === 'not_found') return { type: 'conversation_not_found' };
      if (turn.type === 'locked') return turn;
      const holder = turn.holder;
      const previous = holder === null ? null : await lockAdopted(client, holder, principal, false);
      if (holder === null || !previous) return { type: 'nothing_paused' };
      adoption.adopting(holder);
      const adopted = await this.adoptLocked(client, holder, previous, turn.items, adoption);
      if (adopted.type === 'created') {
        await client.query({
          ...CONVERSATIONS_SQL.hold,
          values: [conversationId, adopted.record.id],
        });
      }
      return adopted;
    });
  }

  /** Adopts the locked response's tree: the new response continues `history`. */
  private async adoptLocked(
    client: PoolClient,
    previousId: string,
    previous: LockedAdoptee,
    history: Item[],
    adoption: Adoption,
  ): Promise<Adopted> {
    if (previous.adopted_by !== null) return { type: 'adopted_already', by: previous.adopted_by };
    const response = adoption.build(history);
    const { rows: candidates } = await client.query<ApprovalCandidate>({
      ...ADOPTION_SQL.candidates,
      values: [previousId],
    });
    const calls =
      previous.status === 'completed' ? adoption.decide(candidates) : adoption.decide([]);
    const {
      rows: [top],
    } = await client.query<{ tools: ScopeTools }>({
      ...ADOPTION_SQL.topTools,
      values: [previousId],
    });
    const tools = await adoption.tools(top.tools);
    const record = await insertResponse(client, response);
    const {
      rows: [copied],
    } = await client.query<{ resume: string[] }>({
      ...ADOPTION_SQL.copy,
      values: [
        previousId,
        response.id,
        JSON.stringify(
          calls.map((call) => ({
            step_id: call.stepId,
            approval: call.approval,
            status: call.status,
            error: call.error,
          })),
        ),
        JSON.stringify(tools),
        JSON.stringify(response.context),
      ],
    });
    return {
      type: 'created',
      record: { ...record, status: 'in_progress' },
      resume: copied.resume,
    };
  }
}

/** What the lock of the adopted response reads. */
interface LockedAdoptee {
  status: ResponseStatus;
  adopted_by: string | null;
  output: Item[] | null;
  context: Item[];
}

const ownerOf = (principal: Principal): string | null => (principal.admin ? null : principal.keyId);

/** Locks the response to adopt; null when the principal may not see it (or it is not stored and not `held`). */
async function lockAdopted(
  client: PoolClient,
  responseId: string,
  principal: Principal,
  held: boolean,
): Promise<LockedAdoptee | null> {
  const { rows } = await client.query<LockedAdoptee>({
    ...ADOPTION_SQL.lock,
    values: [responseId, ownerOf(principal), held],
  });
  return rows[0] ?? null;
}
