import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startProcess, waitForOutput, type ServiceProcess } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';

// A real worker process against an upstream and a tool that answer without end (each would
// go on to a gigabyte and more): the size limits cut them off as the bytes arrive, so the
// worker's resident memory stays bounded, and each response ends with the limit's error.

const MB = 1024 * 1024;
/** What a worker may grow by, over its resident size when idle. */
const GROWTH_BOUND = 150 * MB;

let upstream: Server;
let tool: Server;
let ratchet: TestRatchet;
let worker: ServiceProcess;
let key: string;
let served = 0;

/** Writes `piece` until the client hangs up or a gigabyte went out, minding backpressure. */
function endless(response: ServerResponse, piece: string): void {
  let sent = 0;
  const write = (): void => {
    while (!response.destroyed && sent < 1024 * MB) {
      sent += piece.length;
      served += piece.length;
      if (!response.write(piece)) return void response.once('drain', write);
    }
    if (!response.destroyed) response.end();
  };
  write();
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

beforeAll(async () => {
  upstream = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (body.includes('use the tool') && !body.includes('"role":"tool"')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(
          JSON.stringify({
            id: 'c',
            object: 'chat.completion',
            created: 1,
            model: 'm',
            choices: [
              {
                index: 0,
                message: {
                  role: 'assistant',
                  content: null,
                  tool_calls: [
                    {
                      id: 'call_1',
                      type: 'function',
                      function: { name: 'flood', arguments: '{}' },
                    },
                  ],
                },
                finish_reason: 'tool_calls',
              },
            ],
          }),
        );
      }
      if (body.includes('use the tool')) {
        response.writeHead(200, { 'content-type': 'application/json' });
        return void response.end(
          JSON.stringify({
            id: 'c',
            object: 'chat.completion',
            created: 1,
            model: 'm',
            choices: [
              { index: 0, message: { role: 'assistant', content: 'done' }, finish_reason: 'stop' },
            ],
          }),
        );
      }
      if (body.includes('"stream":true')) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        return endless(response, `: ${'k'.repeat(64 * 1024)}\n`);
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      endless(response, `{"filler": "${'x'.repeat(64 * 1024)}", `);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  tool = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      endless(response, `["${'y'.repeat(64 * 1024)}", `);
    });
  });
  await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const toolPort = (tool.address() as AddressInfo).port;
  // The API in this process; the only worker is a process of its own.
  ratchet = await startRatchet('worker-memory', {
    workers: 0,
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: http://127.0.0.1:${upstreamPort}/v1, apiKey: test }
tools:
  flood: { type: http, url: http://127.0.0.1:${toolPort}/, parameters: { type: object } }
`,
  });
  key = await ratchet.newKey();
  worker = startProcess('dist/apps/worker/main.js', { ...ratchet.env, LOG_LEVEL: 'warn' });
  await waitForOutput(worker, 'processing jobs');
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await ratchet?.close();
  upstream?.closeAllConnections();
  tool?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (tool ? tool.close(() => resolve()) : resolve()));
});

async function create(body: Record<string, unknown>): Promise<string> {
  const response = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({ model: 'chat', background: true, ...body }),
  });
  // A streamed response answers with its events, the first of which names it.
  if (body.stream) return /"id":"(resp_[0-9a-f]+)"/.exec(await response.text())?.[1] ?? 'none';
  return ((await response.json()) as { id: string }).id;
}

async function settle(id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const record = (await (await ratchet.request(`/v1/responses/${id}`, { key })).json()) as Record<
      string,
      unknown
    >;
    if (!['queued', 'in_progress'].includes(record.status as string)) return record;
    if (Date.now() > deadline) throw new Error(`${id} still ${String(record.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it('keeps a worker within its memory bound against endless answers', async () => {
  const pid = worker.child.pid!;
  const base = rssBytes(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
  try {
    const ids = await Promise.all([
      create({ input: 'a body without end' }),
      create({ input: 'a stream without end', stream: true }),
      create({ input: 'use the tool', tools: [{ type: 'function', name: 'flood' }] }),
      create({ input: 'another body without end' }),
    ]);
    const [body, stream, toolUse, again] = await Promise.all(ids.map(settle));
    for (const record of [body, stream, again]) {
      expect(record).toMatchObject({
        status: 'failed',
        error: { code: 'upstream_response_too_large' },
      });
    }
    expect(toolUse.status).toBe('completed');
    expect(JSON.stringify(toolUse.output)).toContain('limits.maxToolOutputBytes');
  } finally {
    clearInterval(sampler);
  }
  // The upstreams sent at least the limits' worth; the worker kept none of it.
  expect(served).toBeGreaterThan(3 * 16 * MB);
  expect(peak - base).toBeLessThan(GROWTH_BOUND);
  // For whoever reads the run.
  console.log(`worker RSS: ${Math.round(base / MB)} MB idle, ${Math.round(peak / MB)} MB at peak`);
});
