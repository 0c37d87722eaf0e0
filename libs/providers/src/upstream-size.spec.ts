import type { ServerResponse } from 'node:http';
import { AnthropicProvider } from './anthropic.provider';
import { OpenAIChatProvider } from './openai-chat.provider';
import { OpenAIResponsesProvider } from './openai-responses.provider';
import type { ModelProvider } from './provider';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import { TestUpstream } from './testing/upstream-server';
import { readLimitedText } from './upstream-http';

// limits.maxUpstreamResponseBytes: every provider counts the bytes of an answer as they
// arrive and gives up past the limit, streamed or not, however long the upstream would go on.

const LIMIT = 64 * 1024;

const KINDS: { name: string; create: (baseUrl: string) => ModelProvider }[] = [
  {
    name: 'openai-chat',
    create: (baseUrl) =>
      new OpenAIChatProvider({ baseUrl, headers: {}, timeoutMs: 10_000, maxResponseBytes: LIMIT }),
  },
  {
    name: 'openai-responses',
    create: (baseUrl) =>
      new OpenAIResponsesProvider({
        baseUrl,
        headers: {},
        timeoutMs: 10_000,
        maxResponseBytes: LIMIT,
      }),
  },
  {
    name: 'anthropic',
    create: (baseUrl) =>
      new AnthropicProvider({ baseUrl, headers: {}, timeoutMs: 10_000, maxResponseBytes: LIMIT }),
  },
];

/** Writes `piece` for ever (until the client hangs up), minding backpressure. */
function endless(response: ServerResponse, piece: string): void {
  const write = (): void => {
    while (!response.destroyed && response.write(piece));
    if (!response.destroyed) response.once('drain', write);
  };
  write();
}

let upstream: TestUpstream;
beforeAll(async () => (upstream = await TestUpstream.start()));
afterAll(() => upstream.close());

describe.each(KINDS)('$name', ({ create }) => {
  it('fails a body over the limit with upstream_response_too_large, not retryable', async () => {
    upstream.reset((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      endless(response, `{"filler": "${'x'.repeat(4096)}", `);
    });
    const error = await within(
      5_000,
      upstreamFailure(create(upstream.baseUrl).call(modelRequest())),
    );
    expect(error.code).toBe('upstream_response_too_large');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`${LIMIT} bytes`);
    await within(5_000, upstream.abandoned);
  });

  it('fails an endless stream with upstream_response_too_large and hangs up', async () => {
    upstream.reset((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      endless(response, `: ${'k'.repeat(1000)}\n`);
    });
    const call = create(upstream.baseUrl).call(modelRequest({ onDelta: () => undefined }));
    const error = await within(5_000, upstreamFailure(call));
    expect(error.code).toBe('upstream_response_too_large');
    await within(5_000, upstream.abandoned);
  });

  it('reads an error body only in part, and still classifies it by status', async () => {
    upstream.reset((_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      endless(response, 'y'.repeat(4096));
    });
    const error = await within(
      5_000,
      upstreamFailure(create(upstream.baseUrl).call(modelRequest())),
    );
    expect(error.status).toBe(503);
    expect(error.retryable).toBe(true);
  });
});

describe('readLimitedText', () => {
  async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
    for (const part of parts) yield part;
  }

  it('keeps a character split across reads whole', async () => {
    const bytes = Buffer.from('é😀', 'utf8');
    const text = await readLimitedText(
      chunks(bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)),
      100,
    );
    expect(text).toBe('é😀');
  });

  it('cuts at the limit when asked to, and throws otherwise', async () => {
    const body = (): AsyncGenerator<Uint8Array> => chunks(Buffer.from('abc'), Buffer.from('def'));
    await expect(readLimitedText(body(), 4, { truncate: true })).resolves.toBe('abcd');
    await expect(readLimitedText(body(), 4)).rejects.toMatchObject({
      code: 'upstream_response_too_large',
    });
    await expect(readLimitedText(body(), 6)).resolves.toBe('abcdef');
  });
});
