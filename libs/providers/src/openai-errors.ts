import { z } from 'zod';
import type { UpstreamError } from './provider';
import { upstreamHttpError } from './upstream-errors';

// OpenAI's error envelope, spoken alike by the Chat Completions and Responses APIs and by
// the servers compatible with them.

/** `{"error": {...}}`; some compatible servers send `error` as a bare string. */
export const openAIErrorBodySchema = z.looseObject({
  error: z.union([
    z.string(),
    z.looseObject({ message: z.string(), code: z.unknown().optional() }),
  ]),
});

/** The message and code of an OpenAI-style error body, or null for anything else. */
export function parseOpenAIErrorBody(
  text: string,
): { message: string; code: string | null } | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = openAIErrorBodySchema.safeParse(json);
  if (!parsed.success) return null;
  const { error } = parsed.data;
  if (typeof error === 'string') return { message: error, code: null };
  return { message: error.message, code: typeof error.code === 'string' ? error.code : null };
}

/** The UpstreamError for a non-2xx answer with an OpenAI-style error body (or none). */
export function openAIHttpError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): UpstreamError {
  return upstreamHttpError(status, headers, parseOpenAIErrorBody(text));
}
