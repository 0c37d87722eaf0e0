import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { chatStream } from '../libs/providers/src/testing/chat-frames';
import {
  bodyText,
  deliver,
  delivery,
  encodeFrames,
  frameFate,
  oddText,
} from '../libs/providers/src/testing/fuzz-streams';
import {
  FUZZ_CONCURRENCY,
  FUZZ_SEED,
  fuzzRuns,
  fuzzTimeoutMs,
  mapLimited,
} from './support/fuzz-budget';
import { startRatchet, type TestRatchet } from './support/ratchet';

// Generated model answers served by a real loopback HTTP server as the upstream: streams and
// bodies broken every way, error statuses, noise, connections reset mid-body. Every response
// must reach a terminal state (completed, failed or incomplete) within a bound, each step
// run once (never handed around by the sweeper), and read back without a server error.

/** What the upstream answers every request of one response (its retries included). */
type Answer =
  | { kind: 'sse'; text: string; reads: Uint8Array[]; reset: boolean }
  | { kind: 'json'; text: string }
  | { kind: 'status'; status: number; text: string }
  | { kind: 'noise'; contentType: string; bytes: Uint8Array };

const streamAnswer: fc.Arbitrary<Answer> = chatStream
  .chain((frames) =>
    fc.tuple(
      fc.constant(frames),
      fc.array(frameFate, { minLength: frames.length, maxLength: frames.length }),
      delivery,
      fc.boolean(),
    ),
  )
  .map(([frames, fates, how, reset]) => {
    const text = encodeFrames(frames, fates);
    return { kind: 'sse', text, reads: deliver(text, how), reset: reset && how.noise === null };
  });

const answer: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 5, arbitrary: streamAnswer },
  {
    weight: 2,
    arbitrary: bodyText({
      id: 'c',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hi \u0000' }, finish_reason: 'stop' },
      ],
    }).map((text): Answer => ({ kind: 'json', text })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ status: fc.constantFrom(400, 401, 404, 413, 422, 500, 503), text: oddText })
      .map((fields): Answer => ({ kind: 'status', ...fields })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        contentType: fc.constantFrom('text/event-stream', 'application/json', 'text/html', ''),
        bytes: fc.uint8Array({ maxLength: 2000 }),
      })
      .map((fields): Answer => ({ kind: 'noise', ...fields })),
  },
);

const RUNS = fuzzRuns(24);
/** How long a response may take to end: its model call's retries included. */
const BOUND_MS = 45_000;

const answers = fc.sample(answer, { seed: FUZZ_SEED, numRuns: RUNS });

let upstream: Server;
let ratchet: TestRatchet;
let key: string;

function serve(response: ServerResponse, given: Answer): void {
  switch (given.kind) {
    case 'status':
      response.writeHead(given.status, { 'content-type': 'application/json' });
      return void response.end(given.text);
    case 'json':
      response.writeHead(200, { 'content-type': 'application/json' });
      return void response.end(given.text);
    case 'noise':
      response.writeHead(200, given.contentType ? { 'content-type': given.contentType } : {});
      return void response.end(given.bytes);
    case 'sse': {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const reads = [...given.reads];
      const cutAt = given.reset ? Math.floor(reads.length / 2) : -1;
      let index = 0;
      const next = (): void => {
        if (response.destroyed) return;
        if (index === cutAt) return void response.socket?.destroy();
        const read = reads[index++];
        if (read === undefined) return void response.end();
        response.write(read);
        setImmediate(next);
      };
      next();
    }
  }
}

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const run = /fuzz run (\d+)/.exec(Buffer.concat(chunks).toString('utf8'));
      serve(response, answers[Number(run?.[1] ?? 0)]);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as AddressInfo;
  ratchet = await startRatchet('model-answers-fuzz', {
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: http://127.0.0.1:${port}/v1, apiKey: test, idleTimeoutMs: 2000, timeoutMs: 5000 }
`,
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

async function settle(id: string): Promise<string> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const response = await ratchet.request(`/v1/responses/${id}`, { key });
    expect(response.status).toBe(200);
    const { status } = (await response.json()) as { status: string };
    if (!['queued', 'in_progress'].includes(status)) return status;
    if (Date.now() > deadline) return `still ${status} after ${BOUND_MS} ms`;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

it(
  `ends every response on generated model answers (${RUNS} runs, seed ${FUZZ_SEED})`,
  async () => {
    const results = await mapLimited(answers, FUZZ_CONCURRENCY, async (given, run) => {
      const created = await ratchet.request('/v1/responses', {
        method: 'POST',
        key,
        body: JSON.stringify({
          model: 'chat',
          input: `fuzz run ${run}`,
          background: true,
          stream: run % 2 === 0,
          tools: [{ type: 'function', name: 'client_tool', parameters: { type: 'object' } }],
        }),
      });
      // A streamed response is read through to its end; its id is in its first event.
      const id =
        run % 2 === 0
          ? (/"id":"(resp_[0-9a-f]+)"/.exec(await created.text())?.[1] ?? 'none')
          : ((await created.json()) as { id: string }).id;
      const status = await settle(id);
      const steps = (await (
        await ratchet.request(`/v1/responses/${id}/steps`, { key })
      ).json()) as {
        steps?: { attempt: number | null }[];
      };
      const attempts = (steps.steps ?? []).map((step) => step.attempt ?? 0);
      return { run, status, attempts, given };
    });
    const broken = results.filter(
      (result) =>
        !['completed', 'failed', 'incomplete'].includes(result.status) ||
        result.attempts.some((attempt) => attempt > 1),
    );
    if (broken.length > 0) {
      const [first] = broken;
      throw new Error(
        `seed ${FUZZ_SEED}: run ${first.run} ended ${first.status} (step attempts ${first.attempts.join(',')}); ` +
          `counterexample: ${JSON.stringify(first.given, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))}`,
      );
    }
  },
  fuzzTimeoutMs(90_000),
);
