import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { createTestDatabase, type TestDatabase } from './support/database';
import {
  freePort,
  repoRoot,
  startProcess,
  waitForOutput,
  waitForReady,
  type ServiceProcess,
} from './support/processes';
import { REDIS_URL } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// docker-compose.yml and the Dockerfile, run as compose would run them, without Docker: each
// ratchet service's command, with the environment compose gives it (the image's ENV, the
// service's `environment`, `${VAR}` interpolated), its volumes mapped to the checkout, in
// compose's order: the migrator to completion, then the API and two workers (as
// `--scale worker=2`). What stands in for the containers' network: Postgres and Redis are the
// test's, on loopback, and each process gets ports of its own where containers would each
// have theirs. The Redis prefix is the test's, so it shares Redis with nothing else.

interface ComposeService {
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };
const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

/** The variables a newcomer sets, as the compose file's header says. */
const shellEnv: Record<string, string> = {
  RATCHET_ADMIN_KEY: `admin-${randomBytes(12).toString('hex')}`,
};

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`, over `shellEnv`. */
function interpolate(value: string): string {
  return value.replace(
    /\$\{(\w+)(?::([-?])([^}]*))?\}/g,
    (_, name: string, kind?: string, rest?: string) => {
      const set = shellEnv[name];
      if (set) return set;
      if (kind === '?') throw new Error(`compose refuses to start: ${rest}`);
      return kind === '-' ? (rest ?? '') : '';
    },
  );
}

/** The final image's ENV lines (`ENV A=1 B="two words"`). */
function imageEnv(): Record<string, string> {
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, name, quoted, bare] of line.slice(4).matchAll(/(\w+)=(?:"([^"]*)"|(\S+))/g)) {
      env[name] = quoted ?? bare;
    }
  }
  return env;
}

/** A container path under one of the service's volumes, as the checkout's path. */
function hostPath(service: ComposeService, containerPath: string): string {
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(':');
    if (containerPath.startsWith(`${target}/`) && source.startsWith('.')) {
      return path.join(repoRoot, source, containerPath.slice(target.length));
    }
  }
  throw new Error(`${containerPath} is on no volume of the service`);
}

let database: TestDatabase;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('compose', { empty: true });
});

afterAll(async () => {
  await Promise.all(running.map((service) => service.stop('SIGKILL')));
  await database?.drop();
});

/** The service's process environment: the image's, then the service's, with the stand-ins. */
function environmentOf(name: string, ports: Record<string, number> = {}): Record<string, string> {
  const service = compose.services[name];
  const env: Record<string, string> = { ...imageEnv() };
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    env[key] = interpolate(String(value));
  }
  expect(env.DATABASE_URL).toMatch(/@postgres:5432\//);
  expect(env.REDIS_URL).toBe('redis://redis:6379');
  env.DATABASE_URL = database.url;
  env.REDIS_URL = REDIS_URL;
  env.RATCHET_REDIS_PREFIX = testRedisPrefix('compose');
  if (env.RATCHET_CONFIG) env.RATCHET_CONFIG = hostPath(service, env.RATCHET_CONFIG);
  for (const [key, port] of Object.entries(ports)) env[key] = String(port);
  return env;
}

function start(name: string, ports: Record<string, number> = {}): ServiceProcess {
  const [program, ...rest] = compose.services[name].command ?? [];
  expect(program).toBe('node');
  // Node's options come first (the worker's young generation), then the script and its own.
  const at = rest.findIndex((arg) => !arg.startsWith('-'));
  const [nodeArgs, script, args] = [rest.slice(0, at), rest[at], rest.slice(at + 1)];
  expect(existsSync(path.join(repoRoot, script))).toBe(true);
  // NODE_OPTIONS from the image applies to node itself, as in the container.
  const service = startProcess(script, environmentOf(name, ports), args, repoRoot, nodeArgs);
  running.push(service);
  return service;
}

it('builds an image whose every input is in the checkout, and runs what the build makes', () => {
  const build = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
  const copied = [...build.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
    m[1].split(/\s+/),
  );
  for (const source of copied) expect(existsSync(path.join(repoRoot, source))).toBe(true);
  // What tsc and vite build from is copied: the sources the build reads.
  expect(copied).toEqual(expect.arrayContaining(['apps', 'libs', 'prisma', 'package.json']));
  const cmd = /^CMD \[(.+)\]$/m.exec(dockerfile)![1];
  const [, script] = JSON.parse(`[${cmd}]`) as string[];
  expect(existsSync(path.join(repoRoot, script))).toBe(true);
});

it('runs the migrator, then the API and scaled workers, and serves a response', async () => {
  expect(compose.services.api.depends_on?.migrate.condition).toBe('service_completed_successfully');
  const migrate = start('migrate');
  expect(await migrate.exited).toBe(0);

  const apiPort = await freePort();
  // The published port maps to the container's PORT.
  expect(compose.services.api.ports?.[0]).toMatch(/:8080$/);
  expect(compose.services.api.environment?.PORT).toBe(8080);
  const api = start('api', { PORT: apiPort });
  const metricsPorts = [await freePort(), await freePort()];
  const workers = metricsPorts.map((port) => start('worker', { RATCHET_METRICS_PORT: port }));
  const base = `http://127.0.0.1:${apiPort}`;
  await Promise.all([
    waitForReady(`${base}/readyz`, api, 60_000),
    ...workers.map((worker) => waitForOutput(worker, 'processing jobs', 60_000)),
  ]);

  const admin = { authorization: `Bearer ${shellEnv.RATCHET_ADMIN_KEY}` };
  const created = await fetch(`${base}/v1/responses`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock', input: 'Hello, compose' }),
  });
  expect(created.status).toBe(200);
  expect(await created.json()).toMatchObject({
    status: 'completed',
    output: [{ type: 'message', content: [{ text: 'You said: Hello, compose' }] }],
  });

  // The parts of "see inside" the compose setup offers.
  const [consolePage, openapi, metrics] = await Promise.all([
    fetch(`${base}/console`),
    fetch(`${base}/openapi.json`),
    fetch(`${base}/metrics`, { headers: admin }),
  ]);
  expect(consolePage.status).toBe(200);
  expect(await consolePage.text()).toContain('<div id="app"');
  expect(openapi.status).toBe(200);
  expect(metrics.status).toBe(200);
  for (const port of metricsPorts) {
    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^ratchet_/m);
  }
}, 120_000);
