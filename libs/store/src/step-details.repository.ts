import { Injectable } from '@nestjs/common';
import type { Usage } from '@ratchet/core';
import type { StepBackoff } from './recovery.repository';
import { Sql, statement } from './sql';
import { leaseOwnerOf } from './step-lease';
import { usageJson } from './usage-sql';

/** A scope of a response's tree: the top one, or the sub-agent an agent step runs. */
export interface ScopeDetail {
  id: string;
  /** The agent step this scope runs for; null for the top scope. */
  parent_step_id: string | null;
  depth: number;
  model: string;
  instructions: string | null;
  /** The conversation the scope starts from: its model calls read it, then each round's outputs. */
  input: unknown[];
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  created_at: string;
  completed_at: string | null;
}

/** A step with everything recorded of it: its timeline, its request and its result. */
export interface StepDetail {
  id: string;
  scope_id: string;
  round: number;
  index: number;
  kind: 'model_call' | 'tool_call' | 'agent_call';
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  name: string | null;
  call_id: string | null;
  /** A tool or agent call's arguments as the model wrote them. */
  arguments: string | null;
  /** model_call: its output items; tool_call and agent_call: the output text. */
  result: unknown;
  error: { code: string; message: string } | null;
  usage: Usage | null;
  backoff: StepBackoff | null;
  attempt: number;
  /** The worker that last claimed the step. */
  executed_by: string | null;
  /** The worker holding it now, while it runs. */
  lease_owner: string | null;
  lease_expires_at: string | null;
  created_at: string;
  dispatched_at: string | null;
  started_at: string | null;
  completed_at: string | null;
}

const SQL = {
  scopes: statement(
    'console-response-scopes',
    `SELECT id, parent_step_id, depth, model, instructions, input, status::text AS status,
            created_at, completed_at
       FROM scopes WHERE response_id = $1
      ORDER BY depth, created_at`,
  ),
  steps: statement(
    'console-response-steps',
    `SELECT id, scope_id, round, index, kind::text AS kind, status::text AS status, name,
            call_id, arguments, result, error,
            ${usageJson('steps', { estimated: true })} AS usage, backoff, attempt, executed_by,
            ${leaseOwnerOf('steps')} AS lease_owner, lease_expires_at, created_at, dispatched_at,
            started_at, completed_at
       FROM steps WHERE response_id = $1
      ORDER BY created_at, round, index`,
  ),
};

type Dated<T, K extends keyof T> = Omit<T, K> & {
  [P in K]: T[P] extends string ? Date : Date | null;
};

const DATES = [
  'created_at',
  'completed_at',
  'dispatched_at',
  'started_at',
  'lease_expires_at',
] as const;

function withIsoDates(row: object): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...(row as Record<string, unknown>) };
  for (const key of DATES) {
    const value = copy[key];
    if (value instanceof Date) copy[key] = value.toISOString();
  }
  return copy;
}

/** Reads a response's whole tree, every scope and step, for the console's step view. */
@Injectable()
export class StepDetailsRepository {
  constructor(private readonly sql: Sql) {}

  async tree(responseId: string): Promise<{ scopes: ScopeDetail[]; steps: StepDetail[] }> {
    const [scopes, steps] = await Promise.all([
      this.sql.query<Dated<ScopeDetail, 'created_at' | 'completed_at'>>(SQL.scopes, [responseId]),
      this.sql.query<
        Dated<
          StepDetail,
          'created_at' | 'dispatched_at' | 'started_at' | 'completed_at' | 'lease_expires_at'
        >
      >(SQL.steps, [responseId]),
    ]);
    return {
      scopes: scopes.map((row) => withIsoDates(row) as unknown as ScopeDetail),
      steps: steps.map((row) => withIsoDates(row) as unknown as StepDetail),
    };
  }
}
