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
import { ADOPTION_SQL } from './adoption.sql';
import { insertResponse, type NewResponse } from './responses.repository';
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
      const {
        rows: [previous],
      } = await client.query<{
        status: ResponseStatus;
        adopted_by: string | null;
        output: Item[] | null;
        context: Item[];
      }>({
        ...ADOPTION_SQL.lock,
        values: [previousId, principal.admin ? null : principal.keyId, adoption.held === true],
      });
      if (!previous) return { type: 'not_found' };
      if (previous.adopted_by !== null) return { type: 'adopted_already', by: previous.adopted_by };
      const response = adoption.build([...previous.context, ...(previous.output ?? [])]);
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
    });
  }
}
