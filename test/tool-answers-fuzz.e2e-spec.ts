import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { NOT_UTF8_NOTE } from '@ratchet/tools';
import fc from 'fast-check';
import {
  FUZZ_CONCURRENCY,
  FUZZ_SEED,
  fuzzRuns,
  fuzzTimeoutMs,
  mapLimited,
} from './support/fuzz-budget';
import { startRatchet, type TestRatchet } from './support/ratchet';

// An http tool served by a raw loopback server that answers anything: any status, any content
// type, empty, huge, dripped slowly, invalid UTF-8, a wrong Content-Length, the connection
// reset mid-body. Every response must end, and what the next model call reads as the tool's
// output must be a faithful rendering of what the tool said or a clearly classified error.

const MAX_TOOL_BYTES = 64 * 1024;
const TOOL_TIMEOUT_MS = 3000;

interface ToolAnswer {
  status: number;
  contentType: string | null;
  body: Uint8Array;
  /** The Content-Length sent: the body's, another, or none. */
  length: 'right' | 'more' | 'less' | 'none';
  /** Write the body in this many pieces, a pause between each. */
  drip: { pieces: number; pauseMs: number } | null;
  /** Reset the connection after this share of the body. */
  resetAt: number | null;
}

const json = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => Buffer.from(JSON.stringify(value) ?? 'null'));

const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: json },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('  \n ')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 1,
    // JSON with bytes that are not UTF-8 inside a string.
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 8 })
      .map((bad) =>
        Buffer.concat([
          Buffer.from('{"x": "a'),
          Buffer.from(bad.map((b) => b | 0x80)),
          Buffer.from('"}'),
        ]),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .nat({ max: 3 })
      .map((extra) =>
        Buffer.from(JSON.stringify({ big: 'z'.repeat(MAX_TOOL_BYTES + extra * 1000) })),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', maxLength: 40 })
      .map((text) => Buffer.from(JSON.stringify({ text }))),
  },
);

const toolAnswer: fc.Arbitrary<ToolAnswer> = fc.record({
  status: fc.oneof(
    { weight: 6, arbitrary: fc.constant(200) },
    { weight: 2, arbitrary: fc.constantFrom(201, 204, 301, 400, 404, 418, 500, 502, 503) },
  ),
  contentType: fc.constantFrom(
    'application/json',
    'text/plain',
    'text/html; charset=latin1',
    'application/octet-stream',
    null,
  ),
  body,
  length: fc.oneof(
    { weight: 6, arbitrary: fc.constant<'right'>('right') },
    { weight: 1, arbitrary: fc.constantFrom<'more' | 'less' | 'none'>('more', 'less', 'none') },
  ),
  drip: fc.option(
    fc.record({ pieces: fc.integer({ min: 2, max: 6 }), pauseMs: fc.constantFrom(5, 50, 1400) }),
    { freq: 4 },
  ),
  resetAt: fc.option(fc.double({ min: 0, max: 0.99, noNaN: true }), { freq: 8 }),
});

const RUNS = fuzzRuns(24);
const BOUND_MS = 30_000;
const answers = fc.sample(toolAnswer, { seed: FUZZ_SEED, numRuns: RUNS });

/** What the model read as each run's tool output. */
const modelRead = new Map<number, string>();

let tool: Server;
let upstream: HttpServer;
let ratchet: TestRatchet;
let key: string;

function answerOn(socket: Socket, given: ToolAnswer): void {
  const declared =
    given.length === 'right'
      ? given.body.length
      : given.length === 'more'
        ? given.body.length + 10
        : given.length === 'less'
          ? Math.max(0, given.body.length - 3)
          : null;
  const head =
    `HTTP/1.1 ${given.status} Whatever\r\n` +
    (given.contentType ? `content-type: ${given.contentType}\r\n` : '') +
    (declared !== null ? `content-length: ${declared}\r\n` : '') +
    'connection: close\r\n\r\n';
  socket.write(head);
  const bytes = Buffer.from(given.body);
  const cut = given.resetAt === null ? null : Math.floor(bytes.length * given.resetAt);
  const pieces = given.drip?.pieces ?? 1;
  const size = Math.max(1, Math.ceil(bytes.length / pieces));
  let offset = 0;
  const next = (): void => {
    if (socket.destroyed) return;
    if (cut !== null && offset >= cut) {
      socket.write(bytes.subarray(offset, Math.max(offset, cut)));
      return void socket.resetAndDestroy();
    }
    if (offset >= bytes.length) return void socket.end();
    const end = cut !== null ? Math.min(offset + size, cut) : offset + size;
    socket.write(bytes.subarray(offset, end));
    offset = end;
    setTimeout(next, given.drip?.pauseMs ?? 0);
  };
  next();
}

beforeAll(async () => {
  tool = createServer((socket) => {
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const text = received.toString('utf8');
      const run = /"run"\s*:\s*(\d+)/.exec(text.slice(text.indexOf('\r\n\r\n')));
      if (run && text.includes('}')) {
        socket.removeAllListeners('data');
        answerOn(socket, answers[Number(run[1])]);
      }
    });
  });
  await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
  const toolPort = (tool.address() as AddressInfo).port;

  // The model: calls the tool once, then answers with what the tool said.
  upstream = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { messages } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        messages: { role: string; content: string }[];
      };
      const run = Number(/fuzz run (\d+)/.exec(JSON.stringify(messages))?.[1] ?? 0);
      const output = messages.find((message) => message.role === 'tool');
      if (output) modelRead.set(run, output.content);
      const message = output
        ? { role: 'assistant', content: 'The tool answered.' }
        : {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'anything', arguments: JSON.stringify({ run }) },
              },
            ],
          };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          created: 1,
          model: 'm',
          choices: [{ index: 0, message, finish_reason: output ? 'stop' : 'tool_calls' }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  ratchet = await startRatchet('tool-answers-fuzz', {
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: http://127.0.0.1:${upstreamPort}/v1, apiKey: test }
tools:
  anything: { type: http, url: http://127.0.0.1:${toolPort}/, timeoutMs: ${TOOL_TIMEOUT_MS}, parameters: { type: object } }
limits: { maxToolOutputBytes: ${MAX_TOOL_BYTES} }
`,
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (tool ? tool.close(() => resolve()) : resolve()));
});

/** Why what the model read is not a faithful rendering of `given`, or null when it is. */
function unfaithful(given: ToolAnswer, read: string | undefined): string | null {
  if (read === undefined) return 'the model never read the tool output';
  const bytes = Buffer.from(given.body);
  const clean =
    given.status >= 200 &&
    given.status < 300 &&
    given.length === 'right' &&
    given.resetAt === null &&
    bytes.length <= MAX_TOOL_BYTES &&
    (given.drip === null || given.drip.pauseMs * given.drip.pieces < TOOL_TIMEOUT_MS / 2);
  let utf8: string | null;
  try {
    utf8 = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    utf8 = null;
  }
  if (clean && utf8 !== null && given.status !== 204) {
    if (utf8.trim() === '') return read === '' ? null : `expected "", read ${read}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8);
    } catch {
      return /tool_bad_response/.test(read) ? null : `not JSON, yet read ${read.slice(0, 200)}`;
    }
    const faithful = JSON.stringify(parsed);
    return read === faithful
      ? null
      : `expected ${faithful.slice(0, 200)}, read ${read.slice(0, 200)}`;
  }
  if (clean && utf8 === null && read.startsWith('{"error"') === false) {
    return read.startsWith(NOT_UTF8_NOTE) ? null : `invalid UTF-8 unmarked: ${read.slice(0, 200)}`;
  }
  if (read.startsWith('{"error"')) {
    const { error } = JSON.parse(read) as { error: { code: string; message: string } };
    const known = [
      'tool_http_error',
      'tool_bad_response',
      'tool_response_too_large',
      'tool_unreachable',
      'tool_timeout',
    ];
    if (!known.includes(error.code)) return `unclassified error ${error.code}`;
    if (error.code === 'tool_http_error' && !error.message.includes(`HTTP ${given.status}`)) {
      return `the error does not name HTTP ${given.status}: ${error.message}`;
    }
    if (
      error.code === 'tool_response_too_large' &&
      !error.message.includes(`${MAX_TOOL_BYTES} bytes`)
    ) {
      return `the error does not name the limit: ${error.message}`;
    }
    return null;
  }
  // A 2xx the client read whole despite a drip or an early Content-Length: still JSON text.
  return given.status >= 200 && given.status < 300
    ? null
    : `a ${given.status} read as success: ${read.slice(0, 200)}`;
}

it(
  `ends every response and renders every tool answer faithfully (${RUNS} runs, seed ${FUZZ_SEED})`,
  async () => {
    const results = await mapLimited(answers, FUZZ_CONCURRENCY, async (given, run) => {
      const created = await ratchet.request('/v1/responses', {
        method: 'POST',
        key,
        body: JSON.stringify({
          model: 'chat',
          input: `fuzz run ${run}`,
          background: true,
          tools: [{ type: 'function', name: 'anything' }],
        }),
      });
      const { id } = (await created.json()) as { id: string };
      const deadline = Date.now() + BOUND_MS;
      let status = 'queued';
      while (['queued', 'in_progress'].includes(status) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const response = await ratchet.request(`/v1/responses/${id}`, { key });
        status = ((await response.json()) as { status: string }).status;
      }
      const problem =
        status !== 'completed' ? `ended ${status}` : unfaithful(given, modelRead.get(run));
      return { run, problem, given };
    });
    const broken = results.filter((result) => result.problem !== null);
    if (broken.length > 0) {
      const [first] = broken;
      throw new Error(
        `seed ${FUZZ_SEED}: run ${first.run}: ${first.problem}; ${broken.length} of ${RUNS} runs broke; counterexample: ` +
          JSON.stringify({
            ...first.given,
            body: Buffer.from(first.given.body).toString('base64'),
          }),
      );
    }
  },
  fuzzTimeoutMs(90_000),
);
