import type OpenAI from 'openai';
import { waitFor } from './wait';

/** Whether a response has ended: it is neither waiting to run nor running. */
export const hasEnded = (status: string | undefined): boolean =>
  status !== 'queued' && status !== 'in_progress';

/** Polls a response through `client` until its status satisfies `until` (by default, it ended). */
export function waitForResponse(
  client: OpenAI,
  id: string,
  {
    until = hasEnded,
    timeoutMs = 15_000,
  }: {
    until?: (status: string | undefined) => boolean;
    timeoutMs?: number;
  } = {},
): Promise<OpenAI.Responses.Response> {
  return waitFor(
    `the status of ${id}`,
    async () => {
      const response = await client.responses.retrieve(id);
      if (!until(response.status)) throw new Error(`${id} still ${response.status}`);
      return response;
    },
    timeoutMs,
    25,
  );
}
