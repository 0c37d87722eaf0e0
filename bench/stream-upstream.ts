import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nowMs } from './stats';

// A fake streaming model: an OpenAI Chat Completions server on 127.0.0.1 that answers every
// `stream: true` request with `deltas` content deltas `intervalMs` apart. It runs inside the
// bench process, so the moment it writes each delta is on the same clock as the bench client
// that receives it, through ratchet or directly.

export const UPSTREAM_MODEL = 'bench-stream';

export interface StreamUpstreamOptions {
  /** Content deltas per reply. */
  deltas: number;
  /** Milliseconds between consecutive deltas. */
  intervalMs: number;
}

export interface StreamUpstream {
  /** The API root, with the `/v1` prefix ratchet's openai-chat provider expects. */
  baseUrl: string;
  options: StreamUpstreamOptions;
  /**
   * When delta `index` of stream `stream` was written (nowMs()), or undefined when it was not
   * (yet). Every delta's text names both, see `parseDeltaText`.
   */
  sentAt(stream: number, index: number): number | undefined;
  /** Forgets a finished stream's send times. */
  forget(stream: number): void;
  /** Streams started so far. */
  streams(): number;
  close(): Promise<void>;
}

/** The text of delta `index` of stream `stream`: a word, as a tokenizer would stream it. */
export function deltaText(stream: number, index: number): string {
  return `s${stream}t${index} `;
}

/** The stream and index a delta's text names, or null when it is not one of ours. */
export function parseDeltaText(text: string): { stream: number; index: number } | null {
  const match = /^s(\d+)t(\d+) $/.exec(text);
  return match ? { stream: Number(match[1]), index: Number(match[2]) } : null;
}

export async function startStreamUpstream(options: StreamUpstreamOptions): Promise<StreamUpstream> {
  const sent = new Map<number, number[]>();
  let streams = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const stream = streams++;
      const times: number[] = [];
      sent.set(stream, times);
      answer(request, Buffer.concat(chunks).toString('utf8'), response, stream, times, options);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    options,
    sentAt: (stream, index) => sent.get(stream)?.[index],
    forget: (stream) => sent.delete(stream),
    streams: () => streams,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(
  request: IncomingMessage,
  text: string,
  response: ServerResponse,
  stream: number,
  times: number[],
  { deltas, intervalMs }: StreamUpstreamOptions,
): void {
  if (request.method !== 'POST' || !request.url?.endsWith('/chat/completions')) {
    return sendError(response, 404, `No route for ${request.method} ${request.url}.`);
  }
  let body: { stream?: unknown; model?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return sendError(response, 400, 'The request body is not JSON.');
  }
  if (body.stream !== true) {
    return sendError(response, 400, 'This fake upstream only streams (stream: true).');
  }
  const id = `chatcmpl-bench-${stream}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof body.model === 'string' ? body.model : UPSTREAM_MODEL;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: null, choices, ...extra })}\n\n`;
  const choice = (delta: Record<string, unknown>, finishReason: string | null): unknown => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason,
  });

  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // As OpenAI does: the role first, with empty content, as soon as the request is accepted.
  response.write(chunk([choice({ role: 'assistant', content: '', refusal: null }, null)]));
  let index = 0;
  let timer: NodeJS.Timeout | null = null;
  response.once('close', () => {
    if (timer) clearTimeout(timer);
  });
  const next = (): void => {
    timer = null;
    if (response.destroyed) return;
    if (index < deltas) {
      const text = chunk([choice({ content: deltaText(stream, index) }, null)]);
      times.push(nowMs());
      response.write(text);
      index += 1;
      timer = setTimeout(next, intervalMs);
      return;
    }
    response.write(chunk([choice({}, 'stop')]));
    const completionTokens = deltas * 2;
    response.write(
      chunk([], {
        usage: {
          prompt_tokens: 8,
          completion_tokens: completionTokens,
          total_tokens: 8 + completionTokens,
        },
      }),
    );
    response.end('data: [DONE]\n\n');
  };
  timer = setTimeout(next, intervalMs);
}

function sendError(response: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', code: null } });
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(body);
}
