import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MEMORY_ENV, NODE_MEMORY_ARGS, STEPS_NODE_MEMORY_ARGS } from './memory-profile';

// The settings that must be in place before Node starts live in four places besides the
// constants: the npm scripts, the Dockerfile, docker-compose.yml and the bench (which imports
// the constants).

const root = path.resolve(__dirname, '..', '..', '..');
const env = Object.entries(MEMORY_ENV).map(([name, value]) => `${name}=${value}`);

describe('the memory profile', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it.each([
    ['start:api', NODE_MEMORY_ARGS],
    ['start:worker', STEPS_NODE_MEMORY_ARGS],
    ['start', STEPS_NODE_MEMORY_ARGS],
    ['dev', STEPS_NODE_MEMORY_ARGS],
  ])('npm run %s starts node with it', (name, args) => {
    const command = scripts[name];
    for (const setting of [...env, ...args]) expect(command).toContain(setting);
  });

  it("the Dockerfile sets the API's for every command, and compose the worker's", () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV NODE_OPTIONS="${NODE_MEMORY_ARGS.join(' ')}"`);
    for (const setting of env) expect(dockerfile).toContain(setting);
    const compose = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(
      `command: ['node', ${STEPS_NODE_MEMORY_ARGS.map((arg) => `'${arg}'`).join(', ')}, 'dist/apps/worker/main.js']`,
    );
  });
});
