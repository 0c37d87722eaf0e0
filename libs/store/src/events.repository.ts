import { Injectable } from '@nestjs/common';
import {
  closeOpenItems,
  unannouncedRequests,
  type Item,
  type ResponseStreamEvent,
  type UnsequencedEvent,
} from '@ratchet/core';
import type { PoolClient } from 'pg';
import { topScopeId } from './scope-id';
import { Sql, statement } from './sql';

// The event log of streamed responses, in plain SQL. Sequence numbers are allocated by an
// increment of responses.next_sequence in the statement that inserts the events, so they are
// gap-free and in commit order: the increment holds the response row's lock until commit,
// and a statement that fails rolls back its numbers with its rows. Every append is refused
// once the terminal event is logged (responses.events_closed).

/** An event as logged: its number, its type, and the JSON text clients receive. */
export interface LoggedEvent {
  sequence: number;
  type: string;
  data: string;
}

export interface AppendOptions {
  /** The step whose execution produced the events. */
  stepId?: string | null;
  /** The scope whose output items the events announce, and how many they announce. */
  items?: { scopeId: string; count: number } | null;
}

/** Columns of an append: each event's type, and its JSON text split where the number goes. */
interface EncodedEvents {
  types: string[];
  heads: string[];
  tails: string[];
}

/**
 * Encodes events as JSON text with the sequence number left out, split after `type` (always
 * the first key, and a fixed identifier with no comma) so SQL can put the number in.
 */
export function encodeEvents(events: readonly UnsequencedEvent[]): EncodedEvents {
  const encoded: EncodedEvents = { types: [], heads: [], tails: [] };
  for (const event of events) {
    // `type` first: the spread keeps the key where it first appeared.
    const { type, ...rest } = event;
    const text = JSON.stringify({ type, ...rest });
    const comma = text.indexOf(',');
    const cut = comma === -1 ? text.length - 1 : comma;
    encoded.types.push(event.type);
    encoded.heads.push(text.slice(0, cut));
    encoded.tails.push(text.slice(cut));
  }
  return encoded;
}

/** Encoded events as the arrays $2 (types), $3 (heads) and $4 (tails) of a statement. */
export const EVENT_ARRAYS = `unnest($2::text[], $3::text[], $4::text[])`;

/**
 * The SQL that numbers encoded events from `first` and puts each number in its JSON text.
 * `source` yields the events as rows (type, head, tail), in order: EVENT_ARRAYS, or a set
 * function with its column definition list.
 */
export const NUMBERED_EVENTS = (first: string, source: string = EVENT_ARRAYS): string => `
  SELECT ${first} + x.ord - 1 AS sequence, x.type,
         x.head || ',"sequence_number":' || (${first} + x.ord - 1) || x.tail AS data
    FROM ROWS FROM (${source}) WITH ORDINALITY AS x(type, head, tail, ord)`;

const SQL = {
  // $1 response, $2-$4 encoded events, $5 step, $6 scope, $7 items announced, $8 terminal.
  append: statement(
    'append-events',
    `WITH alloc AS (
       UPDATE responses
          SET next_sequence = next_sequence + cardinality($2::text[]),
              events_closed = $8::boolean,
              lease_expires_at = CASE WHEN $8::boolean THEN NULL ELSE lease_expires_at END
        WHERE id = $1 AND NOT events_closed
       RETURNING next_sequence - cardinality($2::text[]) AS first),
     items AS (
       UPDATE scopes SET stream_items = stream_items + $7::int
        WHERE id = $6 AND $7::int > 0 AND EXISTS (SELECT 1 FROM alloc)),
     ins AS (
       INSERT INTO events (response_id, sequence, type, data, step_id)
       SELECT $1, n.sequence, n.type, n.data, $5 FROM (${NUMBERED_EVENTS('(SELECT first FROM alloc)')}) n
        WHERE EXISTS (SELECT 1 FROM alloc)
       RETURNING sequence, type, data)
     SELECT sequence, type, data FROM ins ORDER BY sequence`,
  ),
  lock: statement('lock-event-log', `SELECT events_closed FROM responses WHERE id = $1 FOR UPDATE`),
  stepLogged: statement(
    'step-events-exist',
    `SELECT EXISTS (SELECT 1 FROM events WHERE step_id = $2 AND response_id = $1) AS logged`,
  ),
  typeLogged: statement(
    'type-events-exist',
    `SELECT EXISTS (SELECT 1 FROM events WHERE response_id = $1 AND type = $2) AS logged`,
  ),
  after: statement(
    'events-after',
    `SELECT sequence, type, data FROM events
      WHERE response_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3`,
  ),
  ofStep: statement(
    'events-of-step',
    `SELECT sequence, type, data FROM events
      WHERE step_id = $2 AND response_id = $1 ORDER BY sequence`,
  ),
  // Where the items still open on the top-level stream were announced.
  openItemsFrom: statement(
    'open-items-from',
    `SELECT min(sequence) AS first FROM (
       SELECT sequence, type, data::jsonb -> 'output_index' AS output_index FROM events
        WHERE response_id = $1
          AND type IN ('response.output_item.added', 'response.output_item.done')) e
      GROUP BY output_index HAVING count(*) FILTER (WHERE type = 'response.output_item.done') = 0
      ORDER BY first LIMIT 1`,
  ),
  streamItems: statement('scope-stream-items', `SELECT stream_items FROM scopes WHERE id = $1`),
  // The approval requests the top-level stream announced.
  announcedRequests: statement(
    'announced-requests',
    `SELECT data::jsonb -> 'item' ->> 'id' AS id FROM events
      WHERE response_id = $1 AND type = 'response.output_item.added'
        AND data::jsonb -> 'item' ->> 'type' = 'mcp_approval_request'`,
  ),
  loggedBytes: statement(
    'logged-bytes',
    `SELECT coalesce(sum(octet_length(data)), 0)::float8 AS bytes FROM events WHERE response_id = $1`,
  ),
  agentCall: statement(
    'agent-call',
    `SELECT call_id AS "callId", name FROM steps WHERE response_id = $1 AND id = $2`,
  ),
};

@Injectable()
export class EventsRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Appends events to a response's log and returns them numbered, or null when the log is
   * closed (the response ended: whatever was still streaming is too late).
   */
  async append(
    responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions = {},
  ): Promise<LoggedEvent[] | null> {
    if (events.length === 0) return [];
    return this.appendWith(this.sql.pool, responseId, events, options, false);
  }

  /**
   * Appends events unless the step (or, without a step, an event of `unlessType`) has logged
   * any already: for events that a retried job would otherwise log twice. Returns [] when
   * they were logged before, null when the log is closed.
   */
  async appendOnce(
    responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions & { unlessType?: string },
  ): Promise<LoggedEvent[] | null> {
    if (events.length === 0) return [];
    return this.sql.transaction(async (client) => {
      // Under the log's lock, this transaction's next statements see every earlier append.
      const [lock] = (
        await client.query<{ events_closed: boolean }>({ ...SQL.lock, values: [responseId] })
      ).rows;
      if (!lock || lock.events_closed) return null;
      const check = options.stepId
        ? { ...SQL.stepLogged, values: [responseId, options.stepId] }
        : { ...SQL.typeLogged, values: [responseId, options.unlessType ?? events[0].type] };
      const [{ logged }] = (await client.query<{ logged: boolean }>(check)).rows;
      if (logged) return [];
      return this.appendWith(client, responseId, events, options, false);
    });
  }

  /**
   * Ends the log: closes the top-level items still open, then logs the terminal event. An
   * item of the final `output` (its step was recorded, and its worker died before logging
   * the item's end) finishes as the output has it; the rest (a model step cut short by a
   * cancel, a failure elsewhere in the tree or a crash) close `incomplete`, keeping what they
   * streamed. A paused response's approval requests that the log lacks are logged first, as
   * its worker would have. Exactly once: returns null when the log was closed already.
   */
  async close(
    responseId: string,
    terminal: UnsequencedEvent,
    output: readonly Item[] = [],
  ): Promise<LoggedEvent[] | null> {
    return this.sql.transaction(async (client) => {
      const [lock] = (
        await client.query<{ events_closed: boolean }>({ ...SQL.lock, values: [responseId] })
      ).rows;
      if (!lock || lock.events_closed) return null;
      const [open] = (
        await client.query<{ first: number }>({ ...SQL.openItemsFrom, values: [responseId] })
      ).rows;
      const closing: UnsequencedEvent[] = [];
      if (open) {
        const rows = (
          await client.query<LoggedEvent>({
            ...SQL.after,
            values: [responseId, open.first - 1, 2 ** 31 - 1],
          })
        ).rows;
        closing.push(
          ...closeOpenItems(
            rows.map((row) => JSON.parse(row.data) as ResponseStreamEvent),
            output,
          ),
        );
      }
      const announcing = await this.unannouncedRequests(client, responseId, output);
      return this.appendWith(
        client,
        responseId,
        [...announcing, ...closing, terminal],
        { items: { scopeId: topScopeId(responseId), count: announcing.filter(opensItem).length } },
        true,
      );
    });
  }

  /**
   * The events of the approval requests in a paused response's output that its log lacks:
   * its worker died after ending the turn, before logging them.
   */
  private async unannouncedRequests(
    client: Pick<PoolClient, 'query'>,
    responseId: string,
    output: readonly Item[],
  ): Promise<UnsequencedEvent[]> {
    if (!output.some((item) => item.type === 'mcp_approval_request')) return [];
    const announced = (
      await client.query<{ id: string }>({ ...SQL.announcedRequests, values: [responseId] })
    ).rows;
    const [scope] = (
      await client.query<{ stream_items: number }>({
        ...SQL.streamItems,
        values: [topScopeId(responseId)],
      })
    ).rows;
    return unannouncedRequests(
      output,
      new Set(announced.map((row) => row.id)),
      scope?.stream_items ?? 0,
    );
  }

  /** Events with sequence numbers after `after`, in order, at most `limit` of them. */
  async after(responseId: string, after: number, limit: number): Promise<LoggedEvent[]> {
    return this.sql.query<LoggedEvent>(SQL.after, [responseId, after, limit]);
  }

  /** Everything a step's attempts logged, in order. */
  async ofStep(responseId: string, stepId: string): Promise<LoggedEvent[]> {
    return this.sql.query<LoggedEvent>(SQL.ofStep, [responseId, stepId]);
  }

  /** Bytes of the response's event log so far (its events' JSON text, UTF-8). */
  async loggedBytes(responseId: string): Promise<number> {
    const [row] = await this.sql.query<{ bytes: number }>(SQL.loggedBytes, [responseId]);
    return row?.bytes ?? 0;
  }

  /** The call an agent step answers (its call_id and the agent's name). */
  async agentCall(
    responseId: string,
    stepId: string,
  ): Promise<{ callId: string | null; name: string } | null> {
    const [row] = await this.sql.query<{ callId: string | null; name: string }>(SQL.agentCall, [
      responseId,
      stepId,
    ]);
    return row ?? null;
  }

  /** The output_index the scope's next announced item gets. */
  async nextOutputIndex(scopeId: string): Promise<number> {
    const [row] = await this.sql.query<{ stream_items: number }>(SQL.streamItems, [scopeId]);
    return row?.stream_items ?? 0;
  }

  private async appendWith(
    client: Pick<PoolClient, 'query'>,
    responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions,
    terminal: boolean,
  ): Promise<LoggedEvent[] | null> {
    const { types, heads, tails } = encodeEvents(events);
    const result = await client.query<LoggedEvent>({
      ...SQL.append,
      values: [
        responseId,
        types,
        heads,
        tails,
        options.stepId ?? null,
        options.items?.scopeId ?? null,
        options.items?.count ?? 0,
        terminal,
      ],
    });
    return result.rows.length === 0 ? null : result.rows;
  }
}

const opensItem = (event: UnsequencedEvent): boolean => event.type === 'response.output_item.added';
