import { classifyAddress, type SpecialAddressKind } from './address-ranges';
import {
  checkMcpUrl,
  checkMcpUrlResolved,
  McpAllowList,
  McpAllowListError,
  type McpAllowRule,
  mcpAllowListSchema,
  type McpResolver,
} from './mcp-allow-list';

function allowed(url: string, rules: McpAllowRule[]): boolean {
  return checkMcpUrl(url, McpAllowList.parse(rules)).ok;
}

function refusal(url: string, rules: McpAllowRule[]): string {
  const check = checkMcpUrl(url, McpAllowList.parse(rules));
  if (check.ok) throw new Error(`${url} was allowed`);
  return check.reason;
}

/** A resolver over a fixed table; names it lacks do not exist. */
function table(entries: Record<string, string[]>): McpResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (hostname: string): Promise<string[]> => {
    asked.push(hostname);
    const found = entries[hostname];
    if (found) return Promise.resolve(found);
    return Promise.reject(
      Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }),
    );
  };
  return Object.assign(resolve, { asked });
}

describe('classifyAddress', () => {
  const cases: Array<[string, SpecialAddressKind | null]> = [
    ['8.8.8.8', null],
    ['93.184.216.34', null],
    ['2606:4700:4700::1111', null],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', null],
    ['192.168.1.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['100.64.0.1', 'shared'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv4 inside IPv6: mapped, NAT64 and 6to4 reach the same hosts.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::808:808', null],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:0808:0808::1', null],
  ];
  it.each(cases)('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('rejects what is not an address', () => {
    expect(() => classifyAddress('example.com')).toThrow(TypeError);
  });
});

describe('McpAllowList.parse', () => {
  const bad: Array<[string, unknown, string]> = [
    ['an empty rule', '', 'empty'],
    ['another scheme', 'ftp://files.example.com/', 'not an http or https URL'],
    ['a query', 'https://mcp.example.com/?token=1', 'query'],
    ['credentials', 'https://user:pw@mcp.example.com/', 'credentials'],
    ['a bad prefix length', '10.0.0.0/33', 'prefix length'],
    ['a wildcard on an address', '*.10.0.0.1', 'wildcard on an address'],
    ['a bare wildcard', '*', 'not a host name'],
    ['a host with a path', 'mcp.example.com/path', 'not a host name'],
    [
      'both url and host',
      { url: 'https://a.example/', host: 'a.example', addresses: ['10.0.0.1'] },
      'exactly one',
    ],
    ['no addresses', { host: 'a.example', addresses: [] }, '"addresses" must list'],
    ['a bad address', { host: 'a.example', addresses: ['10.0.0.300'] }, 'not an IP address'],
  ];
  it.each(bad)('refuses %s, naming the rule', (_what, rule, message) => {
    let thrown: unknown;
    try {
      McpAllowList.parse(['https://fine.example.com/', rule as McpAllowRule]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(McpAllowListError);
    expect((thrown as McpAllowListError).rule).toBe(1);
    expect((thrown as Error).message).toContain('MCP allow-list rule 1');
    expect((thrown as Error).message).toContain(message);
  });

  it('is what the config schema produces, with issues at the bad rule', () => {
    const parsed = mcpAllowListSchema.safeParse(['mcp.example.com', 'ftp://x/']);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: [1] });
    const good = mcpAllowListSchema.parse([
      'mcp.example.com',
      { host: 'mcp.corp', addresses: ['10.0.0.0/8'] },
    ]);
    expect(good).toBeInstanceOf(McpAllowList);
    expect(good.size).toBe(2);
  });
});

describe('checkMcpUrl', () => {
  it('takes only http(s) URLs without credentials', () => {
    const rules = ['*.example.com'];
    expect(refusal('not a url', rules)).toContain('not a valid URL');
    expect(refusal('file:///etc/passwd', rules)).toContain('only http and https');
    expect(refusal('ws://a.example.com/', rules)).toContain('only http and https');
    expect(refusal('https://me:secret@a.example.com/', rules)).toContain('credentials');
  });

  it('matches URL prefixes by scheme, host, port and whole path segments', () => {
    const rules = ['https://mcp.example.com/v1'];
    expect(allowed('https://mcp.example.com/v1', rules)).toBe(true);
    expect(allowed('https://mcp.example.com/v1/', rules)).toBe(true);
    expect(allowed('https://mcp.example.com/v1/tools?x=1', rules)).toBe(true);
    expect(allowed('https://mcp.example.com:443/v1', rules)).toBe(true);
    expect(allowed('https://mcp.example.com/v1x', rules)).toBe(false);
    expect(allowed('https://mcp.example.com/v2', rules)).toBe(false);
    expect(allowed('http://mcp.example.com/v1', rules)).toBe(false);
    expect(allowed('https://mcp.example.com:8443/v1', rules)).toBe(false);
    expect(allowed('https://evil.mcp.example.com/v1', rules)).toBe(false);
    expect(allowed('https://mcp.example.com.evil.net/v1', rules)).toBe(false);
    expect(refusal('https://other.example.com/v1', rules)).toBe(
      'https://other.example.com/v1 is not on the MCP server allow-list',
    );
  });

  it('matches a prefix of the whole origin, and wildcard hosts in prefixes', () => {
    expect(allowed('https://mcp.example.com/anything', ['https://mcp.example.com/'])).toBe(true);
    expect(allowed('https://eu.tools.example.com/mcp', ['https://*.tools.example.com/mcp'])).toBe(
      true,
    );
    expect(allowed('https://tools.example.com/mcp', ['https://*.tools.example.com/mcp'])).toBe(
      false,
    );
  });

  it('matches hosts on any port and either scheme; wildcards only below the domain', () => {
    expect(allowed('http://mcp.example.com:9000/x', ['mcp.example.com'])).toBe(true);
    expect(allowed('https://mcp.example.com/x', ['mcp.example.com'])).toBe(true);
    expect(allowed('https://a.example.com/', ['*.example.com'])).toBe(true);
    expect(allowed('https://a.b.example.com/', ['*.example.com'])).toBe(true);
    expect(allowed('https://example.com/', ['*.example.com'])).toBe(false);
    expect(allowed('https://badexample.com/', ['*.example.com'])).toBe(false);
  });

  it('reads hosts as URLs do: case, the root dot, international names', () => {
    expect(allowed('https://MCP.Example.COM./', ['mcp.example.com'])).toBe(true);
    expect(allowed('https://xn--bcher-kva.de/', ['bücher.de'])).toBe(true);
    expect(allowed('https://bücher.de/', ['https://xn--bcher-kva.de/'])).toBe(true);
  });

  it('allows private address hosts only when a rule names them', () => {
    expect(allowed('http://127.0.0.1:8080/mcp', ['127.0.0.1'])).toBe(true);
    expect(allowed('http://127.0.0.1:8080/mcp', ['http://127.0.0.1:8080/'])).toBe(true);
    expect(allowed('http://10.9.8.7/mcp', ['10.0.0.0/8'])).toBe(true);
    expect(allowed('http://10.9.8.7/mcp', ['192.168.0.0/16'])).toBe(false);
    expect(allowed('http://[::1]:3000/', ['[::1]'])).toBe(true);
    expect(allowed('http://[::1]:3000/', ['::1'])).toBe(true);
    // URL parsers turn odd spellings into the plain address, so they cannot slip past.
    expect(allowed('http://0x7f.1/', ['*.example.com'])).toBe(false);
    expect(allowed('http://2130706433/', ['127.0.0.1'])).toBe(true);
  });

  it('opens metadata and unspecified addresses only when named one by one', () => {
    expect(refusal('http://169.254.169.254/latest', ['169.254.0.0/16'])).toContain(
      'is a cloud metadata address, which the allow-list does not name',
    );
    expect(allowed('http://169.254.169.254/latest', ['169.254.169.254'])).toBe(true);
    expect(allowed('http://169.254.10.1/', ['169.254.0.0/16'])).toBe(true);
    expect(refusal('http://[fd00:ec2::254]/', ['fd00::/8'])).toContain('metadata');
    expect(refusal('http://0.0.0.0:8080/', ['0.0.0.0/8'])).toContain('unspecified');
    expect(allowed('http://0.0.0.0:8080/', ['0.0.0.0'])).toBe(true);
  });

  it('treats localhost names as loopback', () => {
    expect(allowed('http://localhost:3000/', ['localhost'])).toBe(true);
    expect(allowed('http://localhost:3000/', ['http://localhost:3000/'])).toBe(true);
    expect(refusal('http://a.localhost/', ['*.localhost'])).toContain('loopback name');
    expect(
      allowed('http://a.localhost/', [{ host: '*.localhost', addresses: ['127.0.0.1'] }]),
    ).toBe(true);
  });
});

describe('checkMcpUrlResolved', () => {
  it('allows a name whose addresses are all public, and says which they are', async () => {
    const resolve = table({ 'mcp.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    const check = await checkMcpUrlResolved(
      'https://mcp.example.com/mcp',
      McpAllowList.parse(['mcp.example.com']),
      resolve,
    );
    expect(check.ok && check.resolved).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
  });

  it.each([
    [['10.0.0.5'], '10.0.0.5 (for mcp.example.com) is a private address'],
    [['93.184.216.34', '127.0.0.1'], '127.0.0.1 (for mcp.example.com) is a loopback address'],
    [['169.254.169.254'], 'is a cloud metadata address'],
    [['fe80::1'], 'is a link-local address'],
    [['::ffff:192.168.0.1'], 'is a private address'],
    [['64:ff9b::a9fe:a9fe'], 'is a cloud metadata address'],
  ])('refuses a name resolving to %j', async (addresses, reason) => {
    const resolve = table({ 'mcp.example.com': addresses });
    const check = await checkMcpUrlResolved(
      'https://mcp.example.com/mcp',
      McpAllowList.parse(['mcp.example.com']),
      resolve,
    );
    expect(check.ok).toBe(false);
    expect(!check.ok && check.reason).toContain(reason);
  });

  it('lets a rule open private addresses for its host, and only those', async () => {
    const allowList = McpAllowList.parse([
      { host: 'mcp.corp', addresses: ['10.0.0.0/8'] },
      'public.example.com',
    ]);
    const resolve = table({
      'mcp.corp': ['10.1.1.1'],
      'public.example.com': ['10.1.1.1'],
      'wide.corp': ['10.2.2.2'],
    });
    expect((await checkMcpUrlResolved('http://mcp.corp/mcp', allowList, resolve)).ok).toBe(true);
    // The other rule matches, but names no addresses: its host may not resolve to 10.x.
    expect((await checkMcpUrlResolved('http://public.example.com/', allowList, resolve)).ok).toBe(
      false,
    );
    const metadata = McpAllowList.parse([{ host: 'mcp.corp', addresses: ['169.254.0.0/16'] }]);
    const resolveToMetadata = table({ 'mcp.corp': ['169.254.169.254'] });
    expect((await checkMcpUrlResolved('http://mcp.corp/', metadata, resolveToMetadata)).ok).toBe(
      false,
    );
  });

  it('refuses names that do not resolve', async () => {
    const allowList = McpAllowList.parse(['*.example.com']);
    const missing = await checkMcpUrlResolved('https://gone.example.com/', allowList, table({}));
    expect(!missing.ok && missing.reason).toBe(
      'gone.example.com could not be resolved (ENOTFOUND)',
    );
    const empty = await checkMcpUrlResolved(
      'https://void.example.com/',
      allowList,
      table({ 'void.example.com': [] }),
    );
    expect(!empty.ok && empty.reason).toBe('void.example.com resolved to no address');
  });

  it('does not resolve address hosts', async () => {
    const resolve = table({});
    const check = await checkMcpUrlResolved(
      'http://[::1]:3000/',
      McpAllowList.parse(['::1']),
      resolve,
    );
    expect(check.ok && check.resolved).toEqual(['::1']);
    expect(resolve.asked).toEqual([]);
  });

  it('refuses before resolving when the URL itself is not allowed', async () => {
    const resolve = table({ 'evil.example.net': ['8.8.8.8'] });
    const check = await checkMcpUrlResolved(
      'https://evil.example.net/',
      McpAllowList.parse(['*.example.com']),
      resolve,
    );
    expect(check.ok).toBe(false);
    expect(resolve.asked).toEqual([]);
  });
});
