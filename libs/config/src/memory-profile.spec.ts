import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MEMORY_ENV, NODE_MEMORY_ARGS } from './memory-profile';

// The settings that must be in place before Node starts live in three places besides the
// constants: the npm scripts, the Dockerfile and the bench (which imports the constants).

const root = path.resolve(__dirname, '..', '..', '..');
const env = Object.entries(MEMORY_ENV).map(([name, value]) => `${name}=${value}`);

describe('the memory profile', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it.each(['dev', 'start', 'start:api', 'start:worker'])(
    'npm run %s starts node with it',
    (name) => {
      const command = scripts[name];
      for (const setting of [...env, ...NODE_MEMORY_ARGS]) expect(command).toContain(setting);
    },
  );

  it('the Dockerfile sets it for every command', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV NODE_OPTIONS=${NODE_MEMORY_ARGS.join(' ')}`);
    for (const setting of env) expect(dockerfile).toContain(setting);
  });
});
