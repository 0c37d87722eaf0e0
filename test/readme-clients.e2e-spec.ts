import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startRatchet, type TestRatchet } from './support/ratchet';

// The README's client snippets, run as written against a ratchet on its built-in default
// config (what `npm run dev` serves): each must print what its closing comment says.

const ROOT = path.resolve(__dirname, '..');
// Inside the project, so that the snippets' imports resolve from its node_modules.
const SNIPPETS_DIR = path.join(ROOT, 'test', '.snippets');

interface Snippet {
  name: string;
  code: string;
  /** The comment lines that end the snippet: what it prints. */
  expected: string;
}

/** Code blocks that follow a `<!-- snippet: name -->` line. */
function snippetsOf(readme: string): Snippet[] {
  const pattern = /<!-- snippet: ([\w-]+) -->\s*```js\n([\s\S]*?)```/g;
  return [...readme.matchAll(pattern)].map(([, name, code]) => {
    const lines = code.trimEnd().split('\n');
    let first = lines.length;
    while (first > 0 && lines[first - 1].startsWith('// ')) first -= 1;
    const expected = lines
      .slice(first)
      .map((line) => line.slice(3))
      .join('\n');
    return { name, code, expected };
  });
}

/**
 * The config the Approvals section gives its snippet: the section's YAML block that names
 * `approvals:`, with the mock model it says to add.
 */
function approvalsConfigOf(readme: string): string {
  const section = readme.slice(readme.indexOf('### Approvals'));
  const [, yaml] = /```yaml\n([\s\S]*?)```/.exec(section) ?? [];
  if (!yaml) throw new Error('the Approvals section has no config');
  return `models:\n  mock: { provider: mock }\n${yaml}`;
}

let ratchet: TestRatchet;
let approvals: TestRatchet;
let key: string;
let approvalsKey: string;
let snippets: Snippet[];

beforeAll(async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  ratchet = await startRatchet('readme_clients');
  approvals = await startRatchet('readme_approvals', { configYaml: approvalsConfigOf(readme) });
  key = await ratchet.newKey('readme');
  approvalsKey = await approvals.newKey('readme');
  snippets = snippetsOf(readme);
  await mkdir(SNIPPETS_DIR, { recursive: true });
});
afterAll(async () => {
  await ratchet?.close();
  await approvals?.close();
  await rm(SNIPPETS_DIR, { recursive: true, force: true });
});

it('has one snippet for each client SDK, and one for approvals', () => {
  expect(snippets.map((snippet) => snippet.name)).toEqual([
    'openai',
    'agents',
    'ai-sdk',
    'approvals',
  ]);
});

it.each(['openai', 'agents', 'ai-sdk', 'approvals'])(
  'runs the %s snippet as written',
  async (name) => {
    const snippet = snippets.find((candidate) => candidate.name === name)!;
    expect(snippet.expected).not.toBe('');
    const file = path.join(SNIPPETS_DIR, `${name}.mjs`);
    await writeFile(file, snippet.code);
    // The approvals snippet runs against the config its section gives.
    const target = name === 'approvals' ? approvals : ratchet;
    const { stdout } = await promisify(execFile)(process.execPath, [file], {
      env: {
        ...process.env,
        RATCHET_URL: `${target.url}/v1`,
        RATCHET_KEY: name === 'approvals' ? approvalsKey : key,
      },
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe(snippet.expected);
  },
);
