import { ConfigError, parseRatchetConfig } from '@ratchet/config';
import { parseCreateResponse, RatchetError } from '@ratchet/core';
import {
  mcpAllowListOf,
  requestMcpHeaders,
  resolveAgentTools,
  resolveRequestTools,
  withoutMcpSecrets,
} from './tool-resolution';

const CONFIG = parseRatchetConfig(
  `
models:
  mock: { provider: mock }
tools:
  github: { type: mcp, url: 'https://mcp.example.com/mcp' }
  weather: { type: http, url: 'http://weather.internal/' }
mcp:
  allow: [https://mcp.example.com]
`,
  'test.yaml',
  {},
);

const named = (extra: Record<string, unknown> = {}) => ({
  type: 'mcp',
  server_label: 'docs',
  server_url: 'https://mcp.example.com/docs',
  require_approval: 'never',
  headers: { Authorization: 'Bearer secret' },
  ...extra,
});

function resolve(tools: unknown[]) {
  return resolveRequestTools(CONFIG, parseCreateResponse({ model: 'mock', tools }));
}

function refusal(tools: unknown[]): RatchetError {
  try {
    resolve(tools);
  } catch (error) {
    if (error instanceof RatchetError) return error;
    throw error;
  }
  throw new Error('the tools were accepted');
}

describe('MCP servers in a request', () => {
  it('offers config servers by name and request servers by label, without their headers', () => {
    const tools = resolve([
      { type: 'function', name: 'github' },
      { type: 'function', name: 'weather' },
      named({ allowed_tools: { tool_names: ['search'] }, server_description: 'Docs' }),
    ]);
    expect(tools.mcp).toEqual(['github', 'docs']);
    expect(tools.definitions.map((tool) => tool.name)).toEqual(['weather']);
    expect(tools.remote).toEqual({
      docs: {
        url: 'https://mcp.example.com/docs',
        allowedTools: ['search'],
        description: 'Docs',
        sealedHeaders: null,
      },
    });
  });

  it.each([
    ['a URL off the allow-list', { server_url: 'https://evil.example.org/mcp' }, 'server_url'],
    ['a loopback URL', { server_url: 'http://127.0.0.1:8080/mcp' }, 'server_url'],
    ['the metadata address', { server_url: 'http://169.254.169.254/' }, 'server_url'],
    ['no URL', { server_url: undefined }, 'server_url'],
    [
      'a read_only approval filter',
      { require_approval: { always: { read_only: true } } },
      'require_approval.always.read_only',
    ],
    ['an unknown approval setting', { require_approval: 'sometimes' }, 'require_approval'],
    ['a connector', { connector_id: 'connector_gmail' }, 'connector_id'],
    ['a read_only filter', { allowed_tools: { read_only: true } }, 'allowed_tools.read_only'],
    ['a reserved label', { server_label: 'http' }, 'server_label'],
    ['a config tool’s name', { server_label: 'weather' }, 'server_label'],
  ])('refuses %s, naming the field', (_what, extra, field) => {
    const error = refusal([{ type: 'function', name: 'weather' }, named(extra)]);
    expect(error.param).toBe(`tools[1].${field}`);
  });

  it.each([
    ['always', 'always'],
    ['absent (OpenAI asks by default)', undefined],
  ])('keeps require_approval %s as the server’s approval policy', (_what, sent) => {
    const tools = resolve([named({ require_approval: sent })]);
    expect(tools.approval).toEqual({ docs: 'always' });
  });

  it('keeps a require_approval filter by tool names, and nothing for never', () => {
    const filtered = resolve([
      named({ require_approval: { never: { tool_names: ['search'] }, always: null } }),
    ]);
    expect(filtered.approval).toEqual({ docs: { always: null, never: ['search'] } });
    expect(resolve([named()]).approval).toBeUndefined();
  });

  it('refuses two servers with one label', () => {
    expect(refusal([named(), named()]).param).toBe('tools[1].server_label');
  });

  it('keeps headers and authorization out of the stored request, and hands them over apart', () => {
    const request = parseCreateResponse({
      model: 'mock',
      tools: [named({ authorization: 'tok' })],
    });
    expect(JSON.stringify(withoutMcpSecrets(request))).not.toMatch(/secret|tok\b/);
    expect(requestMcpHeaders(request)).toEqual({
      docs: { Authorization: 'Bearer tok' },
    });
  });

  it('carries the config’s approval settings to requests and to agents', () => {
    const config = parseRatchetConfig(
      `
models:
  mock: { provider: mock }
tools:
  gh: { type: mcp, url: 'https://mcp.example.com/mcp', approval: { never: [search] } }
  deploy: { type: http, url: 'http://deploy.internal/', approval: always }
  lookup: { type: http, url: 'http://lookup.internal/' }
  boss: { type: agent, model: mock, tools: [gh, deploy, lookup], approval: always }
`,
      'test.yaml',
      {},
    );
    const request = resolveRequestTools(
      config,
      parseCreateResponse({
        model: 'mock',
        tools: ['boss', 'lookup'].map((name) => ({ type: 'function', name })),
      }),
    );
    expect(request.approval).toEqual({ boss: 'always' });
    expect(resolveAgentTools(config, ['gh', 'deploy', 'lookup']).approval).toEqual({
      gh: { always: null, never: ['search'] },
      deploy: 'always',
    });
  });

  it('gives agents the config servers they list', () => {
    expect(resolveAgentTools(CONFIG, ['github', 'weather']).mcp).toEqual(['github']);
  });

  it('reads the allow-list once, and names a rule it cannot read', () => {
    expect(mcpAllowListOf(CONFIG)).toBe(mcpAllowListOf(CONFIG));
    const broken = { ...CONFIG, mcp: { allow: ['http://[nope'] } };
    expect(() => mcpAllowListOf(broken)).toThrow(ConfigError);
    expect(() => mcpAllowListOf(broken)).toThrow(/^mcp\.allow\[0\]: /);
  });
});
