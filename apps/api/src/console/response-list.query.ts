import { paramOf, RatchetError, type ResponseStatus } from '@ratchet/core';
import type { ResponseListFilter } from '@ratchet/store';
import { z } from 'zod';

const STATUSES: readonly ResponseStatus[] = [
  'queued',
  'in_progress',
  'completed',
  'failed',
  'cancelled',
  'incomplete',
];

const isStatus = (value: string): value is ResponseStatus =>
  (STATUSES as readonly string[]).includes(value);

/** A `key=value` pair of the metadata filter. */
const metadataPair = z
  .string()
  .regex(/^[^=]{1,64}=.{0,512}$/s, 'expected key=value (a key of 1-64 characters)');

/** GET /v1/console/responses query: filters, and the cursor of the page to read. */
export const responseListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** The `next_cursor` of the previous page. */
  after: z.string().min(1).optional(),
  /** One status or several, comma-separated. */
  status: z
    .string()
    .refine((value) => value.split(',').every(isStatus), {
      message: `expected one or more of ${STATUSES.join(', ')}, comma-separated`,
    })
    .optional(),
  model: z.string().min(1).max(256).optional(),
  /** Unix seconds: only responses created at or after it. */
  created_after: z.coerce.number().int().min(0).optional(),
  /** An API key's id (`key_...`): only its responses. */
  api_key: z.string().min(1).max(64).optional(),
  /** `key=value`, repeatable: only responses whose metadata has every pair. */
  metadata: z.union([metadataPair, z.array(metadataPair).max(16)]).optional(),
});

/** A page cursor: the last row's creation time and id, opaque to clients. */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  const createdAt = new Date(text.slice(0, bar));
  const id = text.slice(bar + 1);
  if (bar < 0 || Number.isNaN(createdAt.getTime()) || !/^resp_[0-9a-f]+$/.test(id)) {
    throw RatchetError.invalid(
      "Invalid value for 'after': not a cursor this endpoint gave.",
      'after',
      'invalid_value',
    );
  }
  return { createdAt, id };
}

export function parseResponseListQuery(query: unknown): ResponseListFilter {
  const result = responseListQuerySchema.safeParse(query);
  if (!result.success) {
    const issue = result.error.issues[0];
    const param =
      issue.code === 'unrecognized_keys' ? issue.keys[0] : paramOf(issue.path.slice(0, 1));
    const message =
      issue.code === 'unrecognized_keys'
        ? `Unknown parameter: '${param}'.`
        : `Invalid value for '${param}': ${issue.message}.`;
    throw RatchetError.invalid(message, param, 'invalid_value');
  }
  const { limit, after, status, model, created_after, api_key, metadata } = result.data;
  const pairs = metadata === undefined ? null : Array.isArray(metadata) ? metadata : [metadata];
  return {
    limit,
    before: after === undefined ? null : decodeCursor(after),
    statuses: status === undefined ? null : status.split(',').filter(isStatus),
    model: model ?? null,
    createdAfter: created_after === undefined ? null : new Date(created_after * 1000),
    ownerId: api_key ?? null,
    metadata:
      pairs === null
        ? null
        : Object.fromEntries(
            pairs.map((pair) => [
              pair.slice(0, pair.indexOf('=')),
              pair.slice(pair.indexOf('=') + 1),
            ]),
          ),
  };
}
