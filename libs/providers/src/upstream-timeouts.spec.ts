import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseRatchetConfig } from '@ratchet/config';
import { Agent } from 'undici';
import { AnthropicProvider } from './anthropic.provider';
import { OpenAIChatProvider } from './openai-chat.provider';
import { OpenAIResponsesProvider } from './openai-responses.provider';
import type { ModelProvider } from './provider';
import { ProviderRegistry } from './provider-registry';
import { modelRequest, upstreamFailure, within } from './testing/fixtures';
import { sendJson, startEventStream, TestUpstream } from './testing/upstream-server';
import { resolveTimeouts, type UpstreamTimeoutOptions, upstreamDispatcher } from './upstream-http';

// The phase timeouts of every HTTP provider against real sockets on 127.0.0.1: a server that
// never answers, one that stalls mid-body, one that never finishes a TLS handshake. Undici
// checks its timers on a coarse clock (about every 0.5 s), so a 200 ms timeout fires within
// about a second; the whole-call timeout in these tests is far longer, so which one fired is
// never in doubt. The tests wait that second concurrently, each with an upstream of its own.

/** Runs `test` against an upstream of its own, closed afterwards. */
async function withUpstream<T>(test: (upstream: TestUpstream) => Promise<T>): Promise<T> {
  const upstream = await TestUpstream.start();
  try {
    return await test(upstream);
  } finally {
    await upstream.close();
  }
}

const WHOLE_CALL_MS = 10_000;

interface ProviderKind {
  name: string;
  create: (baseUrl: string, timeouts: Partial<UpstreamTimeoutOptions>) => ModelProvider;
  /** A whole, successful non-streamed reply body. */
  reply: unknown;
  /** The first event of a streamed reply, as the upstream writes it. */
  firstEvent: string;
}

const KINDS: ProviderKind[] = [
  {
    name: 'openai-chat',
    create: (baseUrl, timeouts) =>
      new OpenAIChatProvider({ baseUrl, headers: {}, timeoutMs: WHOLE_CALL_MS, ...timeouts }),
    reply: {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    },
    firstEvent: `data: ${JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }],
    })}\n\n`,
  },
  {
    name: 'openai-responses',
    create: (baseUrl, timeouts) =>
      new OpenAIResponsesProvider({ baseUrl, headers: {}, timeoutMs: WHOLE_CALL_MS, ...timeouts }),
    reply: {
      id: 'resp_1',
      object: 'response',
      status: 'completed',
      output: [
        {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'ok', annotations: [] }],
        },
      ],
    },
    firstEvent: `event: response.created\ndata: ${JSON.stringify({
      type: 'response.created',
      sequence_number: 0,
      response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] },
    })}\n\n`,
  },
  {
    name: 'anthropic',
    create: (baseUrl, timeouts) =>
      new AnthropicProvider({ baseUrl, headers: {}, timeoutMs: WHOLE_CALL_MS, ...timeouts }),
    reply: {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 3, output_tokens: 1 },
    },
    firstEvent: `event: message_start\ndata: ${JSON.stringify({
      type: 'message_start',
      message: { id: 'msg_01', type: 'message', role: 'assistant', content: [], usage: {} },
    })}\n\n`,
  },
];

function streamed(): ReturnType<typeof modelRequest> {
  return modelRequest({ onDelta: () => undefined });
}

/** How long `promise` took to settle, and what it rejected with (an UpstreamError). */
async function timedFailure(promise: Promise<unknown>): Promise<{ ms: number; error: Error }> {
  const started = Date.now();
  const error = await within(5_000, upstreamFailure(promise));
  return { ms: Date.now() - started, error };
}

describe.each(KINDS)('$name provider timeouts', (kind) => {
  it.concurrent('fails a stream whose headers never come after firstByteTimeoutMs', () =>
    withUpstream(async (upstream) => {
      upstream.handler = () => {
        // Accept the request, never answer.
      };
      const provider = kind.create(upstream.baseUrl, { firstByteTimeoutMs: 200 });

      const { ms, error } = await timedFailure(provider.call(streamed()));

      expect(error).toMatchObject({
        code: 'upstream_timeout',
        retryable: true,
        message: expect.stringContaining('within 200 ms (firstByteTimeoutMs)') as unknown,
      });
      expect(ms).toBeLessThan(3_000);
      await within(2_000, upstream.abandoned);
    }),
  );

  it.concurrent('lets a non-streamed call wait past firstByteTimeoutMs for its answer', () =>
    withUpstream(async (upstream) => {
      // A non-streamed upstream sends headers only with the whole answer.
      upstream.handler = (_request, response) => {
        setTimeout(() => sendJson(response, 200, kind.reply), 1_200);
      };
      const provider = kind.create(upstream.baseUrl, { firstByteTimeoutMs: 200 });

      const result = await within(5_000, provider.call(modelRequest()));

      expect(result.output).toEqual([expect.objectContaining({ type: 'message' })]);
    }),
  );

  it.concurrent('fails a stream that goes silent after its first event after idleTimeoutMs', () =>
    withUpstream(async (upstream) => {
      upstream.handler = (_request, response) => {
        startEventStream(response);
        response.write(kind.firstEvent);
        // Then nothing, with the connection left open.
      };
      const provider = kind.create(upstream.baseUrl, { idleTimeoutMs: 200 });

      const { ms, error } = await timedFailure(provider.call(streamed()));

      expect(error).toMatchObject({
        code: 'upstream_timeout',
        retryable: true,
        message: expect.stringContaining('sent nothing for 200 ms') as unknown,
      });
      expect(error.message).toContain('(idleTimeoutMs)');
      expect(ms).toBeLessThan(3_000);
      await within(2_000, upstream.abandoned);
    }),
  );

  it.concurrent('fails a non-streamed body that stalls half-way after idleTimeoutMs', () =>
    withUpstream(async (upstream) => {
      upstream.handler = (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(JSON.stringify(kind.reply).slice(0, 20));
      };
      const provider = kind.create(upstream.baseUrl, { idleTimeoutMs: 200 });

      const { ms, error } = await timedFailure(provider.call(modelRequest()));

      expect(error).toMatchObject({ code: 'upstream_timeout', retryable: true });
      expect(error.message).toContain('sent nothing for 200 ms');
      expect(error.message).toContain('(idleTimeoutMs)');
      expect(ms).toBeLessThan(3_000);
      await within(2_000, upstream.abandoned);
    }),
  );

  it.concurrent('still ends a stream that trickles forever at timeoutMs, naming it', () =>
    withUpstream(async (upstream) => {
      upstream.handler = (_request, response) => {
        startEventStream(response);
        response.write(kind.firstEvent);
        // SSE comments keep the connection busy but carry no turn.
        const timer = setInterval(() => response.write(': keepalive\n\n'), 50);
        response.on('close', () => clearInterval(timer));
      };
      const provider = kind.create(upstream.baseUrl, { timeoutMs: 600, idleTimeoutMs: 5_000 });

      const { error } = await timedFailure(provider.call(streamed()));

      expect(error).toMatchObject({
        code: 'upstream_timeout',
        retryable: true,
        message: expect.stringContaining('within 600 ms (timeoutMs)') as unknown,
      });
      await within(2_000, upstream.abandoned);
    }),
  );
});

// A plain TCP server behind an https URL: the connection opens, the TLS handshake never
// completes. Undici's connect timeout covers the handshake, so this is a connect that hangs
// without leaving loopback (a SYN that is never answered cannot be made on 127.0.0.1).
let silent: Server;
const silentSockets = new Set<Socket>();

beforeAll(async () => {
  silent = createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
});

afterAll(async () => {
  for (const socket of silentSockets) socket.destroy();
  silent.close();
  await once(silent, 'close');
});

function silentUrl(): string {
  return `https://127.0.0.1:${(silent.address() as AddressInfo).port}/v1`;
}

describe('connect timeout', () => {
  it.concurrent.each(KINDS)('fails $name after connectTimeoutMs', async (kind) => {
    const provider = kind.create(silentUrl(), { connectTimeoutMs: 200 });

    const { ms, error } = await timedFailure(provider.call(modelRequest()));

    expect(error).toMatchObject({
      code: 'upstream_timeout',
      retryable: true,
      message: expect.stringContaining('within 200 ms (connectTimeoutMs)') as unknown,
    });
    expect(ms).toBeLessThan(3_000);
  });
});

describe('upstream connection pools', () => {
  it('shares one pool among providers with the same connect timeout', () => {
    const pool = upstreamDispatcher(undefined, 4_321);

    expect(pool).toBeInstanceOf(Agent);
    expect(upstreamDispatcher(undefined, 4_321)).toBe(pool);
    expect(upstreamDispatcher(undefined, 4_322)).not.toBe(pool);
  });

  it('uses a pool the caller gives as it is', () => {
    const given = new Agent();

    expect(upstreamDispatcher(given, 4_321)).toBe(given);
  });

  it('fills in the phase timeouts a provider is not given with the config defaults', () => {
    expect(resolveTimeouts({ timeoutMs: 1_000 })).toEqual({
      timeoutMs: 1_000,
      connectTimeoutMs: 10_000,
      firstByteTimeoutMs: 120_000,
      idleTimeoutMs: 300_000,
    });
    expect(resolveTimeouts({ timeoutMs: 1_000, idleTimeoutMs: 5 })).toMatchObject({
      idleTimeoutMs: 5,
    });
  });
});

describe('ProviderRegistry timeouts', () => {
  function registry(model: string): ProviderRegistry {
    return new ProviderRegistry(
      parseRatchetConfig(
        `models:\n  m:\n${model
          .split('\n')
          .map((line) => `    ${line}`)
          .join('\n')}\n`,
        'test.yaml',
        {},
      ),
    );
  }

  it.concurrent.each(['openai-chat', 'openai-responses', 'anthropic'])(
    'hands %s models their configured idle timeout',
    (provider) =>
      withUpstream(async (upstream) => {
        upstream.handler = (_request, response) => {
          startEventStream(response);
          response.write(': hello\n\n');
        };
        const models = registry(
          `provider: ${provider}\nbaseUrl: ${upstream.baseUrl}\nidleTimeoutMs: 250\nfirstByteTimeoutMs: 5000`,
        );

        const { error } = await timedFailure(models.resolve('m').provider.call(streamed()));

        expect(error.message).toContain('sent nothing for 250 ms');
      }),
  );

  it.concurrent.each(['openai-chat', 'openai-responses', 'anthropic'])(
    'hands %s models their configured first-byte timeout',
    (provider) =>
      withUpstream(async (upstream) => {
        upstream.handler = () => undefined;
        const models = registry(
          `provider: ${provider}\nbaseUrl: ${upstream.baseUrl}\nfirstByteTimeoutMs: 300`,
        );

        const { error } = await timedFailure(models.resolve('m').provider.call(streamed()));

        expect(error.message).toContain('within 300 ms (firstByteTimeoutMs)');
      }),
  );

  it.concurrent('hands a model its configured connect timeout', async () => {
    const models = registry(
      `provider: openai-chat\nbaseUrl: ${silentUrl()}\nconnectTimeoutMs: 250`,
    );

    const { error } = await timedFailure(models.resolve('m').provider.call(modelRequest()));

    expect(error.message).toContain('within 250 ms (connectTimeoutMs)');
  });
});
