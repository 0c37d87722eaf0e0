import { parseBody, paramOf, RatchetError } from '@ratchet/core';
import { PURGE_MAX, STUCK_REASONS, type StuckReason } from '@ratchet/store';
import { z } from 'zod';

// The bodies and queries of the admin routes: each validated by one zod schema, whose first
// problem is a 400 naming the field (and which the OpenAPI document describes).

const DURATION_UNITS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;
const DURATION = /^(\d{1,9})(s|m|h|d)$/;

/** `"30d"`, `"12h"`, `"90m"`, `"45s"` or a number of seconds, in seconds; null if neither. */
export function durationSeconds(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const match = DURATION.exec(value);
  if (!match) return null;
  return Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS];
}

const timestamp = z.iso.datetime({ offset: true });
const liveStatus = z.enum(['queued', 'in_progress']);

/** The body of POST /v1/admin/responses/requeue and /cancel. */
export const responseFilterSchema = z.strictObject({
  ids: z.array(z.string().min(1).max(255)).min(1).max(1000).optional(),
  status: z.array(liveStatus).min(1).optional(),
  model: z.string().min(1).optional(),
  owner: z.string().min(1).optional(),
  created_before: timestamp.optional(),
  created_after: timestamp.optional(),
  stuck: z.boolean().optional(),
  idle_seconds: z.int().min(0).max(31_536_000).optional(),
  all: z.literal(true).optional(),
  dry_run: z.boolean().optional(),
  limit: z.int().min(1).max(1000).optional(),
});
export type ResponseFilterBody = z.infer<typeof responseFilterSchema>;

const SELECTORS = [
  'ids',
  'status',
  'model',
  'owner',
  'created_before',
  'created_after',
  'stuck',
] as const;

/** A requeue or cancel filter; one that names nothing must say `all: true`. */
export function parseResponseFilter(body: unknown): ResponseFilterBody {
  const filter = parseBody(responseFilterSchema, body);
  const selects = SELECTORS.some((key) => filter[key] !== undefined && filter[key] !== false);
  if (!selects && filter.all !== true) {
    throw RatchetError.invalid(
      `Name the responses to act on with at least one of ${SELECTORS.join(', ')}, or send "all": true to act on every live response.`,
      'all',
      'missing_filter',
    );
  }
  return filter;
}

/** The body of POST /v1/admin/purge. */
export const purgeSchema = z.strictObject({
  older_than: z.union([
    z.int().min(0),
    z.string().regex(DURATION, 'expected a number of seconds or a duration such as "30d"'),
  ]),
  dry_run: z.boolean().optional(),
  limit: z.int().min(1).max(PURGE_MAX).optional(),
});

export interface PurgeRequest {
  olderThanSeconds: number;
  dryRun: boolean;
  limit: number;
}

export function parsePurge(body: unknown): PurgeRequest {
  const parsed = parseBody(purgeSchema, body);
  const olderThanSeconds = durationSeconds(parsed.older_than);
  if (olderThanSeconds === null) {
    throw RatchetError.invalid("Invalid value for 'older_than'.", 'older_than', 'invalid_value');
  }
  return { olderThanSeconds, dryRun: parsed.dry_run ?? false, limit: parsed.limit ?? PURGE_MAX };
}

/** The body of POST /v1/admin/workers/{id}/drain: nothing, or an empty object. */
export const drainSchema = z.strictObject({});

export function parseDrain(body: unknown): void {
  if (body === undefined || body === null) return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  parseBody(drainSchema, body);
}

/** The query of GET /v1/admin/stuck. */
export const stuckQuerySchema = z.strictObject({
  reason: z
    .string()
    .refine(
      (value) => value.split(',').every((reason) => STUCK_REASONS.includes(reason as StuckReason)),
      { message: `expected a comma-separated list of ${STUCK_REASONS.join(', ')}` },
    )
    .optional(),
  status: liveStatus.optional(),
  model: z.string().min(1).optional(),
  owner: z.string().min(1).optional(),
  created_before: timestamp.optional(),
  created_after: timestamp.optional(),
  idle_seconds: z.coerce.number().int().min(0).max(31_536_000).default(30),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type StuckQuery = z.infer<typeof stuckQuerySchema>;

/** The query of GET /v1/admin/audit: newest first, `after` the last id of the page before. */
export const auditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.coerce.number().int().min(1).optional(),
  action: z.enum(['requeue', 'cancel', 'drain', 'purge']).optional(),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

/** The query of GET /v1/admin/overview. */
export const overviewQuerySchema = z.strictObject({
  window_seconds: z.coerce.number().int().min(1).max(86_400).default(900),
});

export function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const result = schema.safeParse(query ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const param = issue.keys[0];
    throw RatchetError.invalid(`Unknown parameter: '${param}'.`, param, 'unknown_parameter');
  }
  const param = paramOf(issue.path);
  throw RatchetError.invalid(
    `Invalid value for '${param}': ${issue.message}.`,
    param,
    'invalid_value',
  );
}
