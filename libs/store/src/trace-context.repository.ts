import { Injectable } from '@nestjs/common';
import { Sql, statement } from './sql';

const SQL = {
  traceparent: statement('response-traceparent', `SELECT traceparent FROM responses WHERE id = $1`),
  agentStep: statement(
    'agent-step-trace',
    `SELECT scope_id AS "scopeId", COALESCE(started_at, created_at) AS "startedAt"
       FROM steps WHERE response_id = $1 AND id = $2`,
  ),
};

/** What traces need of a response and its steps: read only when tracing is on. */
@Injectable()
export class TraceContextRepository {
  constructor(private readonly sql: Sql) {}

  /** The traceparent stored with a response; null when it has none (or is gone). */
  async traceparent(responseId: string): Promise<string | null> {
    const [row] = await this.sql.query<{ traceparent: string | null }>(SQL.traceparent, [
      responseId,
    ]);
    return row?.traceparent ?? null;
  }

  /** An agent step's scope and when it started, for the span that covers its sub-agent. */
  async agentStep(
    responseId: string,
    stepId: string,
  ): Promise<{ scopeId: string; startedAt: Date } | null> {
    const [row] = await this.sql.query<{ scopeId: string; startedAt: Date }>(SQL.agentStep, [
      responseId,
      stepId,
    ]);
    return row ?? null;
  }
}
