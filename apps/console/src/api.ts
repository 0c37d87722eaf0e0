import type { Overview, PurgeResult, ResponsesAction } from '../../api/src/admin/admin.types';
import type {
  ResponseDetail,
  ResponseSummary,
  ResponseSummaryPage,
} from '../../api/src/console/console.service';
import type { AuditEntry, LiveResponse, WorkerView } from '@ratchet/store';

// The console's only state is the key, kept for the browser tab (sessionStorage); everything
// else is read from the API with it, as any client would.

export type { ResponseDetail, ResponseSummary, ResponseSummaryPage };
export type { AuditEntry, LiveResponse, Overview, PurgeResult, ResponsesAction, WorkerView };
export type StepDetail = ResponseDetail['steps'][number];
export type ScopeDetail = ResponseDetail['scopes'][number];

const KEY_ITEM = 'ratchet.console.key';

export const storedKey = (): string | null => sessionStorage.getItem(KEY_ITEM);
export const storeKey = (key: string): void => sessionStorage.setItem(KEY_ITEM, key);
export const forgetKey = (): void => sessionStorage.removeItem(KEY_ITEM);

/** An answer of the API that was not a 2xx, with OpenAI's error envelope read. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

function headers(key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...extra };
}

async function failure(answer: Response): Promise<ApiError> {
  const body = (await answer.json().catch(() => null)) as {
    error?: { message?: string; code?: string | null };
  } | null;
  return new ApiError(
    answer.status,
    body?.error?.message ?? `${answer.status} ${answer.statusText}`,
    body?.error?.code ?? null,
  );
}

export async function getJson<T>(key: string, path: string, signal?: AbortSignal): Promise<T> {
  const answer = await fetch(path, { headers: headers(key), signal });
  if (!answer.ok) throw await failure(answer);
  return (await answer.json()) as T;
}

export async function postJson<T>(key: string, path: string, body: unknown = {}): Promise<T> {
  const answer = await fetch(path, {
    method: 'POST',
    headers: headers(key, { 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw await failure(answer);
  return (await answer.json()) as T;
}

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream with the key as a bearer header (EventSource cannot send
 * one). Resolves when the stream ends; rejects on an error answer or a broken connection.
 */
export async function readEvents(
  key: string,
  path: string,
  signal: AbortSignal,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  const answer = await fetch(path, {
    headers: headers(key, { accept: 'text/event-stream' }),
    signal,
  });
  if (!answer.ok || !answer.body) throw await failure(answer);
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message: SseMessage = { id: null, event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(text);
        else if (field === 'event') message.event = text;
        else if (field === 'id') message.id = text;
      }
      if (data.length === 0) continue;
      message.data = data.join('\n');
      onMessage(message);
    }
  }
}

export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
