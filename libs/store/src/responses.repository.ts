import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import {
  conversationIdOf,
  type Batcher,
  type CreateResponseRequest,
  type IncompleteDetails,
  type Item,
  type ResponseError,
  type ResponseRecord,
  type ResponseStatus,
  type ScopeTools,
  type StoredOutputElement,
  type StoredRequest,
  type UnsequencedEvent,
  type Usage,
  responseTools,
  storedRequest,
} from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import { CONVERSATIONS_SQL } from './conversations.sql';
import { encodeEvents, NUMBERED_EVENTS } from './events.repository';
import { inputItemOf, storedInputItem } from './input-items.sql';
import { topScopeId, topScopeIdOf } from './scope-id';
import { RELAXED_COLUMN, RELAXED_COMMIT } from './relaxed-commit.sql';
import { outputOf, setOutput } from './stored-output.sql';
import { afterEndCtes, ENDED_COLUMNS } from './response-end.sql';
import { batchStatement, jsonParam, oneValues, Sql, statement } from './sql';
import { setUsageSum, usageJson } from './usage-sql';

// Responses in plain SQL: every request of the API touches this, so each method is one
// prepared statement. A principal sees its own responses; an admin sees all ($2 = null).

export interface NewResponse {
  id: string;
  ownerId: string;
  model: string;
  request: CreateResponseRequest;
  /** The request's own input items, normalised (what input_items lists). */
  inputItems: Item[];
  /** What the top scope starts from: previous context plus the new input. */
  context: Item[];
  tools: ScopeTools;
  /** When the response's wall-clock budget runs out. */
  deadlineAt: Date;
  /** The client's Idempotency-Key, with a hash of the request it came with. */
  idempotency?: { key: string; requestHash: string } | null;
  /** The first events of its log (a streamed response's `response.created`...). */
  events?: (record: ResponseRecord) => readonly UnsequencedEvent[];
  /** The W3C trace context the response's work joins (see libs/telemetry). */
  traceparent?: string | null;
  /**
   * Recorded without waiting for the disk: its client hears of it only once it has ended, in
   * a synchronous commit (relaxed-commit.sql.ts). Only `create` honours it.
   */
  relaxed?: boolean;
  /**
   * The id of its first model call, recorded with it, pending and dispatched, for the job
   * that carries its scope (first-step.ts). A foreground response is then in_progress from the
   * start; a background one is queued until its call is claimed or its outcome recorded. Only
   * `create` honours it.
   */
  firstStepId?: string | null;
}

export interface InputItemsPage {
  items: Item[];
  hasMore: boolean;
}

export interface TerminalUpdate {
  status: Extract<ResponseStatus, 'completed' | 'failed' | 'incomplete' | 'cancelled'>;
  output: Item[];
  /** The output as stored, its items that the steps hold referenced (compactOutput). */
  storedOutput?: StoredOutputElement[];
  error?: ResponseError | null;
  incompleteDetails?: IncompleteDetails | null;
}

/**
 * A response's lease once it has ended: a streamed one keeps it until its event log is
 * closed, so a sweeper can close a log whose writer died before writing the terminal event.
 */
export const LOG_DUE = 'CASE WHEN stream AND NOT events_closed THEN now() END';

/**
 * The columns of a ResponseRecord. `output` is what to read the output from: a terminal
 * update returns the output it was given, since the steps it finishes in the same statement
 * are not yet visible to `outputOf` there.
 */
export const recordColumns = (output = outputOf('r')): string =>
  `r.id, r.status::text AS status, r.model, r.request, ${output} AS output, r.error,
  r.incomplete_details, ${usageJson('r', { estimated: false })} AS usage, r.created_at, r.completed_at,
  (SELECT s.tools FROM scopes s WHERE s.id = ${topScopeIdOf('r.id')}) AS tools`;

const SQL = {
  // Parent and children in one statement (they go with it: no foreign keys to check). A batch
  // statement (see sql.ts): an API process records the responses it accepts at once together.
  // Each operation's events are encoded as the event log's append has them, so the numbering
  // SQL is shared.
  create: batchStatement(
    'create-response',
    `id text, owner_id text, model text, request jsonb, previous_response_id text,
     background boolean, stream boolean, store boolean, metadata jsonb, deadline_at timestamptz,
     created_at timestamptz, idempotency_key text, request_hash text, events json, items json,
     scope_id text, instructions text, context jsonb, tools jsonb, conversation_id text,
     traceparent text, relaxed boolean, first_step_id text`,
    (ops) => `WITH ${ops},
     r AS (
       INSERT INTO responses (id, owner_id, model, request, previous_response_id, background,
                              stream, store, metadata, deadline_at, next_sequence, created_at,
                              idempotency_key, request_hash, conversation_id, traceparent,
                              status, step_count, started_at)
       SELECT id, owner_id, model, request, previous_response_id, background, stream, store,
              metadata, deadline_at, json_array_length(events), created_at, idempotency_key,
              request_hash, conversation_id, traceparent,
              CASE WHEN first_step_id IS NOT NULL AND NOT background THEN 'in_progress'
                   ELSE 'queued' END::response_status,
              CASE WHEN first_step_id IS NULL THEN 0 ELSE 1 END,
              CASE WHEN first_step_id IS NOT NULL AND NOT background THEN now() END
         FROM op),
     events AS (
       INSERT INTO events (response_id, sequence, type, data)
       SELECT op.id, n.sequence, n.type, n.data
         FROM op CROSS JOIN LATERAL (${NUMBERED_EVENTS(
           '0',
           'json_to_recordset(op.events) AS (type text, head text, tail text)',
         )}) n),
     items AS (
       INSERT INTO input_items (response_id, position, item_id, item)
       SELECT op.id, x.position, x.item_id,
              ${storedInputItem('x.item', 'x.position', 'json_array_length(op.items)', 'op.context')}
         FROM op CROSS JOIN LATERAL json_to_recordset(op.items)
              AS x(position int, item_id text, item jsonb)),
     scope AS (
       INSERT INTO scopes (id, response_id, depth, model, instructions, input, tools, open_steps)
       SELECT scope_id, id, 0, model, instructions, context, tools,
              CASE WHEN first_step_id IS NULL THEN 0 ELSE 1 END
         FROM op),
     -- The first model call, as the worker would record it unclaimed (append-first-round):
     -- pending, and dispatched, since its job goes to the queue with it.
     first AS (
       INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, attempt,
                          dispatched_at)
       SELECT first_step_id, id, scope_id, 0, 0, 'model_call', 'pending', 0, now()
         FROM op WHERE first_step_id IS NOT NULL),
     ${RELAXED_COMMIT}
     SELECT o, ${RELAXED_COLUMN} FROM op`,
  ),
  byIdempotencyKey: statement(
    'response-by-idempotency-key',
    `SELECT id, request_hash AS "requestHash", created_at AS "createdAt" FROM responses
      WHERE owner_id = $1 AND idempotency_key = $2`,
  ),
  forgetIdempotencyKey: statement(
    'forget-idempotency-key',
    `UPDATE responses SET idempotency_key = NULL WHERE id = $1`,
  ),
  // Of the responses asked for (waiting requests check them in one go), those that ended,
  // and those that no longer exist (r.id null).
  ended: statement(
    'ended-responses',
    `SELECT w.id AS waited, ${recordColumns()}
       FROM unnest($1::text[]) AS w(id) LEFT JOIN responses r ON r.id = w.id
      WHERE r.id IS NULL OR r.status IN ('completed', 'failed', 'cancelled', 'incomplete')`,
  ),
  find: statement(
    'find-response',
    `SELECT ${recordColumns()} FROM responses r
      WHERE r.id = $1 AND ($2::text IS NULL OR r.owner_id = $2)`,
  ),
  conversation: statement(
    'response-conversation',
    `SELECT ${outputOf('r')} AS output, coalesce(r.context, s.input) AS input
       FROM responses r JOIN scopes s ON s.id = ${topScopeIdOf('r.id')}
      WHERE r.id = $1 AND r.store AND ($2::text IS NULL OR r.owner_id = $2)`,
  ),
  delete: statement(
    'delete-response',
    `DELETE FROM responses WHERE id = $1 AND ($2::text IS NULL OR owner_id = $2)`,
  ),
  itemPosition: statement(
    'input-item-position',
    `SELECT position FROM input_items WHERE response_id = $1 AND item_id = $2`,
  ),
  itemsAsc: statement(
    'input-items-asc',
    `SELECT ${inputItemOf('i')} AS item FROM input_items i WHERE i.response_id = $1 AND i.position > $2
      ORDER BY i.position ASC LIMIT $3`,
  ),
  itemsDesc: statement(
    'input-items-desc',
    `SELECT ${inputItemOf('i')} AS item FROM input_items i WHERE i.response_id = $1 AND i.position < $2
      ORDER BY i.position DESC LIMIT $3`,
  ),
  // Usage summed over every step of the tree, sub-agents included, in the same statement;
  // so are the output's ids and the conversation's new turn (response-end.sql.ts).
  finishWithUsage: statement(
    'finish-response-with-usage',
    `WITH ended AS (
       UPDATE responses r
          SET status = $2::response_status, ${setOutput('$3::jsonb', '$6::jsonb')},
              error = $4::jsonb, incomplete_details = $5::jsonb, completed_at = now(), lease_owner = NULL,
              lease_expires_at = ${LOG_DUE},
              ${setUsageSum('steps WHERE response_id = $1 AND input_tokens IS NOT NULL')}
        WHERE r.id = $1 AND r.status IN ('queued', 'in_progress')
       RETURNING ${recordColumns('$3::jsonb')}, ${ENDED_COLUMNS}),
     ${afterEndCtes('ended')}
     SELECT * FROM ended`,
  ),
};

export interface RecordRow {
  id: string;
  status: ResponseStatus;
  model: string;
  request: StoredRequest;
  output: Item[] | null;
  error: ResponseError | null;
  incomplete_details: IncompleteDetails | null;
  usage: Usage | null;
  /** Dates arrive as Date from a column, as text from a row turned into JSON. */
  created_at: Date | string;
  completed_at: Date | string | null;
  tools: ScopeTools | null;
}

export function toRecord(row: RecordRow): ResponseRecord {
  return {
    id: row.id,
    status: row.status,
    model: row.model,
    request: row.request,
    tools: responseTools(row.tools),
    output: row.output,
    error: row.error,
    incompleteDetails: row.incomplete_details,
    usage: row.usage,
    createdAt: new Date(row.created_at),
    completedAt: row.completed_at === null ? null : new Date(row.completed_at),
  };
}

/** Records a response as `create` does, on a transaction's connection. */
export async function insertResponse(
  client: PoolClient,
  response: NewResponse,
): Promise<ResponseRecord> {
  // Never relaxed: the transaction may write what others act on at once (a conversation's hold).
  const { record, op } = createOperation({ ...response, relaxed: false, firstStepId: null });
  await client.query({ ...SQL.create.one, values: oneValues(SQL.create, op) });
  return record;
}

/** The owner filter of a principal: null (everyone's) for admins. */
const ownerFilter = (principal: Principal): string | null =>
  principal.admin ? null : principal.keyId;

/** What creating a response in a conversation did. */
export type CreatedInConversation =
  | { type: 'created'; record: ResponseRecord }
  | { type: 'not_found' }
  | { type: 'locked'; responseId: string };

/** A new response as it is stored, and the create statement's operation for it. */
function createOperation(response: NewResponse): {
  record: ResponseRecord;
  op: { id: string } & Record<string, unknown>;
} {
  const request = storedRequest(response.request);
  const record: ResponseRecord = {
    id: response.id,
    status: response.firstStepId && !request.background ? 'in_progress' : 'queued',
    model: response.model,
    request,
    tools: responseTools(response.tools),
    output: null,
    error: null,
    incompleteDetails: null,
    usage: null,
    // The application's clock, so the first events can carry the record as it is stored.
    createdAt: new Date(),
    completedAt: null,
  };
  const { types, heads, tails } = encodeEvents(response.events?.(record) ?? []);
  const op = {
    id: response.id,
    owner_id: response.ownerId,
    model: response.model,
    request,
    previous_response_id: request.previous_response_id ?? null,
    background: request.background ?? false,
    stream: request.stream ?? false,
    store: request.store ?? true,
    metadata: request.metadata ?? {},
    deadline_at: response.deadlineAt,
    created_at: record.createdAt,
    idempotency_key: response.idempotency?.key ?? null,
    request_hash: response.idempotency?.requestHash ?? null,
    events: types.map((type, i) => ({ type, head: heads[i], tail: tails[i] })),
    items: response.inputItems.map((item, position) => ({ position, item_id: item.id, item })),
    scope_id: topScopeId(response.id),
    instructions: request.instructions ?? null,
    context: response.context,
    tools: response.tools,
    conversation_id: conversationIdOf(request),
    traceparent: response.traceparent ?? null,
    relaxed: response.relaxed ?? false,
    first_step_id: response.firstStepId ?? null,
  };
  return { record, op };
}

@Injectable()
export class ResponsesRepository {
  /** Responses accepted at once are recorded together (one per response in a batch). */
  private readonly creates: Batcher<{ id: string } & Record<string, unknown>, { o: number }>;

  constructor(private readonly sql: Sql) {
    this.creates = sql.batcher(SQL.create, (op) => op.id);
  }

  /** Records a response, its input items, its top scope and its first events in one statement. */
  async create(response: NewResponse): Promise<ResponseRecord> {
    const { record, op } = createOperation(response);
    await this.creates.run(op);
    return record;
  }

  /**
   * Records a response in a conversation, with the conversation's items before its own
   * input as its context (`build` makes the response from them). One response of a
   * conversation runs at a time: the conversation's row is locked for the transaction, and
   * while the response that last started in it is queued or in progress, nothing is
   * recorded. A holder that ended (its turn appended in the same commit) or was deleted
   * frees the conversation.
   */
  async createInConversation(
    conversationId: string,
    principal: Principal,
    build: (history: Item[]) => NewResponse,
  ): Promise<CreatedInConversation> {
    return this.sql.transaction(async (client) => {
      const turn = await lockConversation(client, conversationId, principal);
      if (turn.type !== 'free') return turn;
      const response = build(turn.items);
      const record = await insertResponse(client, response);
      await client.query({ ...CONVERSATIONS_SQL.hold, values: [conversationId, response.id] });
      return { type: 'created', record };
    });
  }

  /** The response an owner created with an Idempotency-Key, if any. */
  async findByIdempotencyKey(
    ownerId: string,
    key: string,
  ): Promise<{ id: string; requestHash: string | null; createdAt: Date } | null> {
    const [row] = await this.sql.query<{ id: string; requestHash: string | null; createdAt: Date }>(
      SQL.byIdempotencyKey,
      [ownerId, key],
    );
    return row ?? null;
  }

  /** Frees an expired Idempotency-Key for a new request. */
  async forgetIdempotencyKey(id: string): Promise<void> {
    await this.sql.query(SQL.forgetIdempotencyKey, [id]);
  }

  async find(id: string, principal: Principal): Promise<ResponseRecord | null> {
    const [row] = await this.sql.query<RecordRow>(SQL.find, [id, ownerFilter(principal)]);
    return row ? toRecord(row) : null;
  }

  /**
   * Of these responses, the ones that have ended, and the ids of those that no longer exist
   * (deleted, or lost with a relaxed commit when Postgres crashed).
   */
  async findEnded(ids: readonly string[]): Promise<{ ended: ResponseRecord[]; missing: string[] }> {
    const found = { ended: [] as ResponseRecord[], missing: [] as string[] };
    if (ids.length === 0) return found;
    const rows = await this.sql.query<RecordRow & { waited: string }>(SQL.ended, [ids]);
    for (const row of rows) {
      if (row.id === null) found.missing.push(row.waited);
      else found.ended.push(toRecord(row));
    }
    return found;
  }

  async findById(id: string): Promise<ResponseRecord | null> {
    const [row] = await this.sql.query<RecordRow>(SQL.find, [id, null]);
    return row ? toRecord(row) : null;
  }

  /** What a follow-up continues from: the response's context followed by its output. */
  async conversation(id: string, principal: Principal): Promise<Item[] | null> {
    const [row] = await this.sql.query<{ output: Item[] | null; input: Item[] }>(SQL.conversation, [
      id,
      ownerFilter(principal),
    ]);
    return row ? [...row.input, ...(row.output ?? [])] : null;
  }

  /** Deletes a response with everything recorded for it; false when it is not visible. */
  async delete(id: string, principal: Principal): Promise<boolean> {
    const result = await this.sql.pool.query({
      ...SQL.delete,
      values: [id, ownerFilter(principal)],
    });
    return result.rowCount === 1;
  }

  /**
   * A page of the request's own input items, in `order` by position, after the item with
   * id `after` when given. Null when `after` names no item of this response.
   */
  async inputItems(
    id: string,
    page: { limit: number; order: 'asc' | 'desc'; after: string | null },
  ): Promise<InputItemsPage | null> {
    let cursor = page.order === 'asc' ? -1 : 2 ** 31 - 1;
    if (page.after !== null) {
      const [anchor] = await this.sql.query<{ position: number }>(SQL.itemPosition, [
        id,
        page.after,
      ]);
      if (!anchor) return null;
      cursor = anchor.position;
    }
    const rows = await this.sql.query<{ item: Item }>(
      page.order === 'asc' ? SQL.itemsAsc : SQL.itemsDesc,
      [id, cursor, page.limit + 1],
    );
    return {
      items: rows.slice(0, page.limit).map((row) => row.item),
      hasMore: rows.length > page.limit,
    };
  }

  /**
   * Writes the terminal state with usage summed over the whole tree. Conditional on the
   * response not having ended, so it happens exactly once however many workers race to it;
   * returns the finished response when this call wrote it, null when it had already ended.
   */
  async finishWithUsage(id: string, update: TerminalUpdate): Promise<ResponseRecord | null> {
    const [row] = await this.sql.query<RecordRow>(SQL.finishWithUsage, [
      id,
      update.status,
      JSON.stringify(update.output),
      jsonParam(update.error),
      jsonParam(update.incompleteDetails),
      update.storedOutput ? JSON.stringify(update.storedOutput) : null,
    ]);
    return row ? toRecord(row) : null;
  }
}

/** Where a conversation stands for its next response, read under the conversation's lock. */
export type ConversationTurn =
  | { type: 'not_found' }
  /** The response that last started in it is still queued or in progress. */
  | { type: 'locked'; responseId: string }
  /** Free: its items, and the response that last started in it (null before the first). */
  | { type: 'free'; holder: string | null; items: Item[] };

/**
 * Locks the conversation for the transaction and reads where it stands: one response of a
 * conversation runs at a time.
 */
export async function lockConversation(
  client: PoolClient,
  conversationId: string,
  principal: Principal,
): Promise<ConversationTurn> {
  const locked = await client.query<{ active_response_id: string | null }>({
    ...CONVERSATIONS_SQL.lock,
    values: [conversationId, ownerFilter(principal)],
  });
  if (locked.rows.length === 0) return { type: 'not_found' };
  const holder = locked.rows[0].active_response_id;
  const {
    rows: [history],
  } = await client.query<{ holder_status: ResponseStatus | null; items: Item[] }>({
    ...CONVERSATIONS_SQL.history,
    values: [conversationId, holder],
  });
  if (
    holder !== null &&
    (history.holder_status === 'queued' || history.holder_status === 'in_progress')
  ) {
    return { type: 'locked', responseId: holder };
  }
  return { type: 'free', holder, items: history.items };
}
