import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  DEFAULT_CONFIG_YAML,
  formatPath,
  interpolate,
  loadRatchetConfig,
  parseRatchetConfig,
} from './ratchet-config';

const FILE = '/etc/ratchet/ratchet.yaml';

const DEFAULT_LIMITS = {
  maxDepth: 8,
  maxIterations: 10,
  maxSteps: 200,
  maxDurationMs: 3_600_000,
  maxConcurrentStepsPerScope: 16,
  maxConcurrentStepsPerResponse: 32,
  maxToolOutputBytes: 1024 * 1024,
  maxUpstreamResponseBytes: 16 * 1024 * 1024,
  maxEventLogBytes: 64 * 1024 * 1024,
};

/** A config using every provider kind, both tool kinds and some limits. */
const FULL_CONFIG = `
models:
  gpt:
    provider: openai-chat
    baseUrl: https://api.openai.com/v1
    apiKey: \${OPENAI_API_KEY}
    upstreamModel: gpt-4o-mini
    fallbacks: [claude, mock]
  resp:
    provider: openai-responses
    baseUrl: https://api.openai.com/v1
    timeoutMs: 120000
    connectTimeoutMs: 5000
    firstByteTimeoutMs: 30000
    idleTimeoutMs: 45000
    headers: { OpenAI-Organization: org-1 }
  claude:
    provider: anthropic
    baseUrl: https://api.anthropic.com
    apiKey: \${ANTHROPIC_API_KEY}
    description: The backup model
  mock:
    provider: mock
tools:
  get_weather:
    type: http
    url: http://weather.internal/lookup
    description: Current weather for a city
    parameters: { type: object, properties: { city: { type: string } }, required: [city] }
    timeoutMs: 10000
  lookup:
    type: http
    url: http://lookup.internal/
  researcher:
    type: agent
    model: gpt
    instructions: You research and answer briefly.
    tools: [get_weather, lookup]
  summariser:
    type: agent
    model: mock
limits: { maxDepth: 3, maxIterations: 5 }
`;

const ENV = { OPENAI_API_KEY: 'sk-openai', ANTHROPIC_API_KEY: 'sk-anthropic' };

/** A model's timeouts when the config gives none. */
const DEFAULT_TIMEOUTS = {
  timeoutMs: 600_000,
  connectTimeoutMs: 10_000,
  firstByteTimeoutMs: 120_000,
  idleTimeoutMs: 300_000,
};

/** The smallest valid config, with `extra` appended (YAML, indented as given). */
function withModel(extra = ''): string {
  return `models:\n  gpt:\n    provider: openai-chat\n    baseUrl: https://api.openai.com/v1\n${extra}`;
}

/** The ConfigError parsing `text` throws; fails the test when parsing succeeds. */
function configError(text: string, env: Record<string, string | undefined> = {}): ConfigError {
  try {
    parseRatchetConfig(text, FILE, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseRatchetConfig', () => {
  describe('a good, full config', () => {
    const config = parseRatchetConfig(FULL_CONFIG, FILE, ENV);

    it('reads every model with its provider kind and interpolated api key', () => {
      expect(Object.keys(config.models)).toEqual(['gpt', 'resp', 'claude', 'mock']);
      expect(config.models.gpt).toEqual({
        provider: 'openai-chat',
        baseUrl: 'https://api.openai.com/v1',
        apiKey: 'sk-openai',
        upstreamModel: 'gpt-4o-mini',
        fallbacks: ['claude', 'mock'],
        ...DEFAULT_TIMEOUTS,
        headers: {},
        maxTokensParameter: 'max_completion_tokens',
      });
      expect(config.models.resp.provider).toBe('openai-responses');
      expect(config.models.claude).toMatchObject({
        provider: 'anthropic',
        apiKey: 'sk-anthropic',
        description: 'The backup model',
      });
      expect(config.models.mock.provider).toBe('mock');
    });

    it('reads a context window and whether a chat upstream takes verbosity', () => {
      const parsed = parseRatchetConfig(
        withModel('    contextWindow: 32000\n    acceptsVerbosity: true\n'),
        FILE,
        {},
      );
      expect(parsed.models.gpt).toMatchObject({ contextWindow: 32000, acceptsVerbosity: true });
    });

    it('applies model defaults and keeps values that were given', () => {
      expect(config.models.mock).toEqual({
        provider: 'mock',
        fallbacks: [],
        ...DEFAULT_TIMEOUTS,
        headers: {},
        maxTokensParameter: 'max_completion_tokens',
      });
      expect(config.models.resp).toMatchObject({
        timeoutMs: 120_000,
        connectTimeoutMs: 5_000,
        firstByteTimeoutMs: 30_000,
        idleTimeoutMs: 45_000,
      });
      expect(config.models.resp.headers).toEqual({ 'OpenAI-Organization': 'org-1' });
      expect(config.models.resp.upstreamModel).toBeUndefined();
    });

    it('reads an http tool with its parameters and timeout', () => {
      expect(config.tools.get_weather).toEqual({
        type: 'http',
        url: 'http://weather.internal/lookup',
        description: 'Current weather for a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        },
        timeoutMs: 10_000,
        headers: {},
        approval: 'never',
      });
    });

    it('gives an http tool an empty object schema and a 30s timeout by default', () => {
      expect(config.tools.lookup).toEqual({
        type: 'http',
        url: 'http://lookup.internal/',
        parameters: { type: 'object', properties: {} },
        timeoutMs: 30_000,
        headers: {},
        approval: 'never',
      });
    });

    it('reads agent tools, defaulting their tool list to empty', () => {
      expect(config.tools.researcher).toEqual({
        type: 'agent',
        model: 'gpt',
        instructions: 'You research and answer briefly.',
        tools: ['get_weather', 'lookup'],
        approval: 'never',
      });
      expect(config.tools.summariser).toEqual({
        type: 'agent',
        model: 'mock',
        tools: [],
        approval: 'never',
      });
    });

    it('merges the given limits over the defaults', () => {
      expect(config.limits).toEqual({ ...DEFAULT_LIMITS, maxDepth: 3, maxIterations: 5 });
    });
  });

  it('defaults tools to none and limits to the built-in values when they are left out', () => {
    const config = parseRatchetConfig(withModel(), FILE, {});
    expect(config.tools).toEqual({});
    expect(config.limits).toEqual(DEFAULT_LIMITS);
  });

  it('parses the built-in DEFAULT_CONFIG_YAML without any environment', () => {
    const config = parseRatchetConfig(DEFAULT_CONFIG_YAML, 'default', {});
    expect(config.models).toEqual({
      mock: {
        provider: 'mock',
        description: 'Deterministic scripted model for demos and tests',
        fallbacks: [],
        ...DEFAULT_TIMEOUTS,
        headers: {},
        maxTokensParameter: 'max_completion_tokens',
      },
    });
    expect(Object.keys(config.tools)).toEqual(['researcher']);
    expect(config.tools.researcher).toMatchObject({ type: 'agent', model: 'mock', tools: [] });
    expect(config.limits).toEqual(DEFAULT_LIMITS);
  });

  describe('${VAR} interpolation', () => {
    it('replaces variables in nested strings, several per string', () => {
      const config = parseRatchetConfig(
        withModel('    apiKey: ${KEY}\n    headers:\n      Authorization: Bearer ${USER}:${KEY}\n'),
        FILE,
        { KEY: 'secret', USER: 'bob' },
      );
      expect(config.models.gpt.apiKey).toBe('secret');
      expect(config.models.gpt.headers).toEqual({ Authorization: 'Bearer bob:secret' });
    });

    it('replaces variables inside arrays', () => {
      const config = parseRatchetConfig(
        withModel('    fallbacks: ["${BACKUP}"]\n') + '  other:\n    provider: mock\n',
        FILE,
        { BACKUP: 'other' },
      );
      expect(config.models.gpt.fallbacks).toEqual(['other']);
    });

    it('keeps $${VAR} as a literal ${VAR}, whether or not VAR is set', () => {
      const text = withModel('    apiKey: $${KEY}\n    description: cost $${PRICE} per ${UNIT}\n');
      expect(parseRatchetConfig(text, FILE, { UNIT: 'call' }).models.gpt).toMatchObject({
        apiKey: '${KEY}',
        description: 'cost ${PRICE} per call',
      });
      expect(parseRatchetConfig(text, FILE, { KEY: 'x', UNIT: 'call' }).models.gpt.apiKey).toBe(
        '${KEY}',
      );
    });

    it('never lets a value change the YAML structure', () => {
      const config = parseRatchetConfig(withModel('    description: ${TEXT}\n'), FILE, {
        TEXT: 'a: b\n  provider: mock\n- [1, 2]',
      });
      expect(config.models.gpt.description).toBe('a: b\n  provider: mock\n- [1, 2]');
      expect(config.models.gpt.provider).toBe('openai-chat');
    });

    it('treats a variable set to the empty string as set', () => {
      expect(
        parseRatchetConfig(withModel('    apiKey: ${KEY}\n'), FILE, { KEY: '' }).models.gpt,
      ).toMatchObject({ apiKey: '' });
    });

    it('rejects a missing variable, naming the file, the path and the variable', () => {
      const error = configError(FULL_CONFIG, { ANTHROPIC_API_KEY: 'sk' });
      expect(error.message).toBe(
        `${FILE}: models.gpt.apiKey: environment variable OPENAI_API_KEY is not set`,
      );
    });

    it('names an array element by its index', () => {
      const error = configError(withModel('    fallbacks: [other, "${BACKUP}"]\n'));
      expect(error.message).toBe(
        `${FILE}: models.gpt.fallbacks[1]: environment variable BACKUP is not set`,
      );
    });

    it('reports every missing variable at once', () => {
      const error = configError(FULL_CONFIG, {});
      expect(error.message.split('\n')).toEqual([
        `${FILE}: models.gpt.apiKey: environment variable OPENAI_API_KEY is not set`,
        `${FILE}: models.claude.apiKey: environment variable ANTHROPIC_API_KEY is not set`,
      ]);
    });
  });

  describe('unknown keys', () => {
    it('rejects an unknown top-level key', () => {
      expect(configError(`${withModel()}extra: 1\n`).message).toBe(
        `${FILE}: (top level): unknown key 'extra'`,
      );
    });

    it('rejects an unknown key in a model, naming the model', () => {
      expect(configError(withModel('    colour: red\n')).message).toBe(
        `${FILE}: models.gpt: unknown key 'colour'`,
      );
    });

    it('rejects an unknown key in a tool', () => {
      const text = `${withModel()}tools:\n  t:\n    type: http\n    url: http://t/\n    retries: 3\n`;
      expect(configError(text).message).toBe(`${FILE}: tools.t: unknown key 'retries'`);
    });

    it('rejects a misspelt limit and lists several unknown keys together', () => {
      const text = `${withModel()}limits: { maxDepht: 3, maxIteration: 4 }\n`;
      expect(configError(text).message).toBe(
        `${FILE}: limits: unknown keys 'maxDepht', 'maxIteration'`,
      );
    });
  });

  describe('wrong types and values', () => {
    it.each([
      ['a string limit', 'limits.maxDepth', `${withModel()}limits: { maxDepth: deep }\n`],
      [
        'a zero maxIterations',
        'limits.maxIterations',
        `${withModel()}limits: { maxIterations: 0 }\n`,
      ],
      ['a fractional timeout', 'models.gpt.timeoutMs', withModel('    timeoutMs: 1.5\n')],
      [
        'a zero connect timeout',
        'models.gpt.connectTimeoutMs',
        withModel('    connectTimeoutMs: 0\n'),
      ],
      [
        'a negative first-byte timeout',
        'models.gpt.firstByteTimeoutMs',
        withModel('    firstByteTimeoutMs: -1\n'),
      ],
      ['a string idle timeout', 'models.gpt.idleTimeoutMs', withModel('    idleTimeoutMs: 1m\n')],
      ['a zero context window', 'models.gpt.contextWindow', withModel('    contextWindow: 0\n')],
      [
        'a string acceptsVerbosity',
        'models.gpt.acceptsVerbosity',
        withModel('    acceptsVerbosity: sometimes\n'),
      ],
      ['an unknown provider', 'models.gpt.provider', 'models:\n  gpt:\n    provider: cohere\n'],
      [
        'a baseUrl that is not a URL',
        'models.gpt.baseUrl',
        'models:\n  gpt:\n    provider: openai-chat\n    baseUrl: not a url\n',
      ],
      ['models as a list', 'models', 'models: [gpt]\n'],
      ['fallbacks as a string', 'models.gpt.fallbacks', withModel('    fallbacks: other\n')],
      [
        'an unknown tool type',
        'tools.t.type',
        `${withModel()}tools:\n  t:\n    type: grpc\n    url: http://t/\n`,
      ],
      ['an http tool without url', 'tools.t.url', `${withModel()}tools:\n  t:\n    type: http\n`],
      [
        'a numeric header value',
        'models.gpt.headers.X-Retry',
        withModel('    headers: { X-Retry: 3 }\n'),
      ],
    ])('rejects %s, naming %s', (_label, path, text) => {
      expect(configError(text).message).toMatch(new RegExp(`^${escape(`${FILE}: ${path}: `)}`));
    });

    it('rejects an empty file because models are required', () => {
      expect(configError('').message).toMatch(new RegExp(`^${escape(`${FILE}: models: `)}`));
    });
  });

  it('rejects invalid YAML, naming the file', () => {
    const error = configError('models: [\n  gpt\n');
    expect(error.message.startsWith(`${FILE}: invalid YAML: `)).toBe(true);
  });

  it('rejects duplicate keys as invalid YAML', () => {
    const error = configError(`${withModel()}limits: {}\nlimits: {}\n`);
    expect(error.message.startsWith(`${FILE}: invalid YAML: `)).toBe(true);
  });

  describe('references between entries', () => {
    it('rejects a fallback naming an unknown model', () => {
      expect(configError(withModel('    fallbacks: [nope]\n')).message).toBe(
        `${FILE}: models.gpt.fallbacks[0]: names unknown model 'nope'`,
      );
    });

    it('rejects an agent tool whose model is unknown', () => {
      const text = `${withModel()}tools:\n  agent:\n    type: agent\n    model: nope\n`;
      expect(configError(text).message).toBe(
        `${FILE}: tools.agent.model: names unknown model 'nope'`,
      );
    });

    it('rejects an agent tool offering an unknown tool, naming its index', () => {
      const text =
        `${withModel()}tools:\n  t:\n    type: http\n    url: http://t/\n` +
        `  agent:\n    type: agent\n    model: gpt\n    tools: [t, nope]\n`;
      expect(configError(text).message).toBe(
        `${FILE}: tools.agent.tools[1]: names unknown tool 'nope'`,
      );
    });

    it('lets an agent offer itself and other agents', () => {
      const text =
        `${withModel()}tools:\n  a:\n    type: agent\n    model: gpt\n    tools: [a, b]\n` +
        `  b:\n    type: agent\n    model: gpt\n`;
      expect(parseRatchetConfig(text, FILE, {}).tools.a).toMatchObject({ tools: ['a', 'b'] });
    });

    it.each(['toString', 'constructor', 'hasOwnProperty'])(
      "does not mistake the built-in object property '%s' for a configured name",
      (name) => {
        expect(configError(withModel(`    fallbacks: [${name}]\n`)).message).toBe(
          `${FILE}: models.gpt.fallbacks[0]: names unknown model '${name}'`,
        );
        const agent = `${withModel()}tools:\n  a:\n    type: agent\n    model: ${name}\n    tools: [${name}]\n`;
        expect(configError(agent).message.split('\n')).toEqual([
          `${FILE}: tools.a.model: names unknown model '${name}'`,
          `${FILE}: tools.a.tools[0]: names unknown tool '${name}'`,
        ]);
      },
    );
  });

  describe('base URLs', () => {
    it.each(['openai-chat', 'openai-responses', 'anthropic'])(
      "requires baseUrl for provider '%s'",
      (provider) => {
        expect(configError(`models:\n  m:\n    provider: ${provider}\n`).message).toBe(
          `${FILE}: models.m.baseUrl: is required for provider '${provider}'`,
        );
      },
    );

    it('does not require baseUrl for the mock provider', () => {
      const model = parseRatchetConfig('models:\n  m:\n    provider: mock\n', FILE, {}).models.m;
      expect(model.provider).toBe('mock');
      expect(model.baseUrl).toBeUndefined();
    });
  });

  describe('tool names', () => {
    it.each([
      ['a space', 'bad name'],
      ['a dot', 'dotted.name'],
      ['65 characters', 'x'.repeat(65)],
    ])('rejects a tool name with %s, naming it and the pattern', (_label, name) => {
      const text = `${withModel()}tools:\n  "${name}":\n    type: http\n    url: http://t/\n`;
      expect(configError(text).message).toBe(
        `${FILE}: tools.${name}: must match ^[a-zA-Z0-9_-]{1,64}$`,
      );
    });

    it('accepts letters, digits, underscores and dashes up to 64 characters', () => {
      const name = `Tool_1-${'x'.repeat(57)}`;
      const text = `${withModel()}tools:\n  ${name}:\n    type: http\n    url: http://t/\n`;
      expect(Object.keys(parseRatchetConfig(text, FILE, {}).tools)).toEqual([name]);
    });
  });

  describe('MCP servers', () => {
    it('parses a server with its defaults, headers interpolated, and the allow-list', () => {
      const text = `${withModel()}tools:
  github:
    type: mcp
    url: https://mcp.example.com/mcp
    headers: { Authorization: "Bearer \${TOKEN}" }
    allowedTools: [search]
  researcher:
    type: agent
    model: gpt
    tools: [github]
mcp:
  allow: [https://mcp.example.com, { host: mcp.internal, addresses: [10.0.0.0/8] }]
`;
      const config = parseRatchetConfig(text, FILE, { TOKEN: 't0k' });
      expect(config.tools.github).toEqual({
        type: 'mcp',
        url: 'https://mcp.example.com/mcp',
        headers: { Authorization: 'Bearer t0k' },
        allowedTools: ['search'],
        timeoutMs: 60_000,
        approval: 'never',
      });
      expect(config.mcp.allow).toHaveLength(2);
    });

    it('reads approval settings: always or never for http and agent tools, filters for MCP', () => {
      const config = parseRatchetConfig(
        withModel(`
tools:
  asked: { type: http, url: 'http://tool.internal/', approval: always }
  boss: { type: agent, model: gpt, approval: always }
  gh: { type: mcp, url: 'https://mcp.example.com/mcp', approval: { never: [search] } }
approvals: { expiresAfterMs: 60000 }
`),
        FILE,
        {},
      );
      expect(config.tools.asked).toMatchObject({ approval: 'always' });
      expect(config.tools.boss).toMatchObject({ approval: 'always' });
      expect(config.tools.gh).toMatchObject({ approval: { never: ['search'] } });
      expect(config.approvals).toEqual({ expiresAfterMs: 60_000 });
      expect(parseRatchetConfig(withModel(), FILE, {}).approvals).toEqual({
        expiresAfterMs: 86_400_000,
      });
    });

    it.each([
      [
        'tools: { t: { type: http, url: "http://x.internal/", approval: sometimes } }',
        'tools.t.approval',
      ],
      ['tools: { t: { type: agent, model: gpt, approval: { always: [x] } } }', 'tools.t.approval'],
      [
        'tools: { t: { type: mcp, url: "https://m.example/mcp", approval: { ask: [x] } } }',
        'tools.t.approval',
      ],
      ['approvals: { expiresAfterMs: 0 }', 'approvals.expiresAfterMs'],
      ['approvals: { ttl: 5 }', 'approvals'],
    ])('refuses a bad approval setting: %s', (yaml, path) => {
      expect(() => parseRatchetConfig(withModel(yaml), FILE, {})).toThrow(path);
    });

    it('defaults the allow-list to none', () => {
      expect(parseRatchetConfig(withModel(), FILE, {}).mcp).toEqual({ allow: [] });
    });

    it.each(['http', 'agent'])('refuses the label %s, which ratchet’s own calls show', (name) => {
      const text = `${withModel()}tools:\n  ${name}:\n    type: mcp\n    url: http://t/\n`;
      expect(configError(text).message).toMatch(`${FILE}: tools.${name}: '${name}' is the label`);
    });

    it('refuses an unknown transport', () => {
      const text = `${withModel()}tools:\n  s:\n    type: mcp\n    url: http://t/\n    transport: ws\n`;
      expect(configError(text).message).toMatch(`${FILE}: tools.s.transport: `);
    });
  });

  it('reports every schema problem at once, one line each', () => {
    const text = 'models:\n  a:\n    provider: anthropic\n    fallbacks: [nope]\nextra: true\n';
    expect(configError(text).message.split('\n')).toEqual([
      `${FILE}: (top level): unknown key 'extra'`,
      `${FILE}: models.a.baseUrl: is required for provider 'anthropic'`,
      `${FILE}: models.a.fallbacks[0]: names unknown model 'nope'`,
    ]);
  });
});

describe('loadRatchetConfig', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ratchet-config-spec-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads and parses a file from disk', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, FULL_CONFIG);
    const config = loadRatchetConfig(file, ENV);
    expect(config.models.gpt.apiKey).toBe('sk-openai');
    expect(config.tools.researcher.type).toBe('agent');
  });

  it('names the file in validation errors', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, withModel('    colour: red\n'));
    expect(() => loadRatchetConfig(file, {})).toThrow(
      new ConfigError(`${file}: models.gpt: unknown key 'colour'`),
    );
  });

  it('rejects a missing file with a ConfigError naming it', () => {
    const file = join(dir, 'missing.yaml');
    let thrown: unknown;
    try {
      loadRatchetConfig(file, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toMatch(
      new RegExp(`^${escape(`${file}: cannot read config file: `)}.*ENOENT`),
    );
  });
});

describe('ConfigError', () => {
  it('is an Error named ConfigError', () => {
    const error = new ConfigError('boom');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toBe('boom');
  });
});

describe('formatPath', () => {
  it('joins keys with dots and indexes with brackets', () => {
    expect(formatPath(['models', 'gpt', 'fallbacks', 0])).toBe('models.gpt.fallbacks[0]');
    expect(formatPath([0, 'a', 1, 2])).toBe('[0].a[1][2]');
    expect(formatPath([])).toBe('');
  });
});

describe('interpolate', () => {
  it('leaves non-string scalars alone and reports each missing variable with its path', () => {
    const missing: [string, PropertyKey[]][] = [];
    const result = interpolate(
      { n: 1, b: true, z: null, list: ['${A}', { deep: '${B}' }] },
      { A: 'a' },
      (name, path) => missing.push([name, path]),
    );
    expect(result).toEqual({ n: 1, b: true, z: null, list: ['a', { deep: '' }] });
    expect(missing).toEqual([['B', ['list', 1, 'deep']]]);
  });

  it('ignores text that only looks like a variable', () => {
    const onMissing = jest.fn();
    expect(interpolate('$VAR ${1X} ${} {A}', {}, onMissing)).toBe('$VAR ${1X} ${} {A}');
    expect(onMissing).not.toHaveBeenCalled();
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
