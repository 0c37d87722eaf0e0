import { randomBytes } from 'node:crypto';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { createApiApp } from '@ratchet/api';
import { AppConfig, PinoLogger } from '@ratchet/config';
import { ApiKeysRepository } from '@ratchet/store';
import { createWorkerApp } from '@ratchet/worker';
import pino from 'pino';
import { TestUpstream } from '../libs/providers/src/testing/upstream-server';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { REDIS_URL, writeConfig } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// Every error that stops a step is logged at `error`, with the response, the step and the
// attempt as structured fields of the JSON line, as a deployed worker writes it.

interface LogLine {
  level: number;
  msg: string;
  responseId?: string;
  stepId?: string;
  attempt?: number | null;
  kind?: string;
  tool?: string | null;
  code?: string | null;
}

const ERROR = 50;

let database: TestDatabase;
let api: INestApplication;
let worker: INestApplicationContext;
let upstream: TestUpstream;
let tools: FakeTools;
let url: string;
let key: string;
const lines: LogLine[] = [];

beforeAll(async () => {
  upstream = await TestUpstream.start();
  tools = await startFakeTools();
  database = await createTestDatabase('step-error-logs');
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('step-error-logs'),
    RATCHET_ADMIN_KEY: `admin-${randomBytes(16).toString('hex')}`,
    PORT: '0',
    LOG_LEVEL: 'warn' as const,
    RATCHET_CONFIG: writeConfig(`
models:
  chat: { provider: openai-chat, baseUrl: ${upstream.baseUrl}, apiKey: test }
tools:
  broken: { type: http, url: ${tools.url}/fail, parameters: { type: object } }
`),
  };
  const config = AppConfig.fromEnvironment(env);
  const logger = new PinoLogger(
    pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) }),
  );
  api = await createApiApp(config, { logger });
  await api.listen(0, '127.0.0.1');
  worker = await createWorkerApp(config, { logger });
  url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  key = (await api.get(ApiKeysRepository).create('logs')).secret;
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await database?.drop();
  await upstream?.close();
  await tools?.close();
});

async function create(body: Record<string, unknown>): Promise<{ id: string; status: string }> {
  const response = await fetch(`${url}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { id: string; status: string };
}

function errorLines(responseId: string): LogLine[] {
  return lines.filter((line) => line.level === ERROR && line.responseId === responseId);
}

it('logs a model call the upstream refused, with response, step and attempt', async () => {
  upstream.reset((_request, response) => {
    response.writeHead(400, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: { message: 'no such thing', code: 'bad' } }));
  });
  const response = await create({ model: 'chat', input: 'Hi' });
  expect(response.status).toBe('failed');
  const [line, ...more] = errorLines(response.id);
  expect(more).toEqual([]);
  expect(line).toMatchObject({
    responseId: response.id,
    stepId: expect.stringMatching(/^step_/) as unknown,
    attempt: 1,
    kind: 'model_call',
    code: 'upstream_error',
  });
  expect(line.msg).toContain('no such thing');
});

it('logs a tool call that failed, naming the tool, while the model goes on', async () => {
  let turn = 0;
  upstream.reset((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const message =
      turn++ === 0
        ? {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'broken', arguments: '{}' } },
            ],
          }
        : { role: 'assistant', content: 'The tool broke.' };
    response.end(
      JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, message, finish_reason: turn === 1 ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
  });
  const response = await create({
    model: 'chat',
    input: 'Use the tool.',
    tools: [{ type: 'function', name: 'broken' }],
  });
  expect(response.status).toBe('completed');
  const logged = errorLines(response.id);
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({
    responseId: response.id,
    stepId: expect.stringMatching(/^step_/) as unknown,
    attempt: 1,
    kind: 'tool_call',
    tool: 'broken',
    code: 'tool_http_error',
  });
});
