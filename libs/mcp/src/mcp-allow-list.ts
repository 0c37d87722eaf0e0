import { lookup as dnsLookup } from 'node:dns/promises';
import { z } from 'zod';
import {
  classifyAddress,
  LOOPBACK_SUBNETS,
  NamedAddresses,
  parseIpAddress,
  SPECIAL_ADDRESS_DESCRIPTIONS,
} from './address-ranges';

// Which MCP servers a request may name. A client's `server_url` makes ratchet send requests
// from inside its own network, so it must be one the operator allowed (SSRF), and it must not
// lead, directly or through DNS, to the host itself, its private network or the cloud's
// metadata service unless the operator named those addresses. The checks here are pure; the
// resolving check and the connection guard (mcp-fetch.ts) apply the same address policy to
// the addresses a connection really uses, so a name that resolves differently later (DNS
// rebinding) is caught where it matters.

/**
 * One operator rule, as written in config:
 * - `https://mcp.example.com/v1`: a URL prefix: same scheme, host and port, and a path
 *   under `/v1` (whole segments: `/v1x` is not under it). The host may be `*.example.com`.
 * - `mcp.example.com`, `*.example.com`: a host (`*.` matches subdomains, not the domain
 *   itself), over http or https, on any port.
 * - `10.1.2.3`, `[::1]`, `10.0.0.0/8`, `fd00::/8`: hosts given as addresses; this also
 *   names those addresses, so a URL may reach them even though they are private.
 * - `localhost`: the host of that name, which names the loopback addresses.
 * - `{ url | host, addresses }`: a URL prefix or host as above that may resolve to the
 *   private addresses listed (IPs or CIDR ranges), e.g. an internal MCP server by its name.
 *
 * Metadata and unspecified addresses open only when named one by one (`169.254.169.254`),
 * never through a range around them.
 */
export type McpAllowRule =
  | string
  | { url: string; host?: undefined; addresses: readonly string[] }
  | { host: string; url?: undefined; addresses: readonly string[] };

/** A rule the allow-list could not read: `rule` is its index in the list. */
export class McpAllowListError extends Error {
  constructor(
    readonly rule: number,
    message: string,
  ) {
    super(message);
    this.name = 'McpAllowListError';
  }
}

interface CompiledRule {
  /** The rule as written, for refusals that say which rule matched. */
  readonly source: string;
  matches(url: URL, hostname: string): boolean;
  readonly names: NamedAddresses;
}

/** The outcome of a URL check: the parsed URL and the address policy its connections obey. */
export type McpUrlCheck =
  { ok: true; url: URL; addresses: McpAddressPolicy } | { ok: false; reason: string };

/** Which addresses a URL that passed the allow-list may connect to. */
export class McpAddressPolicy {
  constructor(
    private readonly host: string,
    private readonly rules: readonly CompiledRule[],
  ) {}

  /** Null when `address` may be connected to; otherwise why not. */
  refusal(address: string): string | null {
    const kind = classifyAddress(address);
    if (kind === null) return null;
    if (this.rules.some((rule) => rule.names.opens(address, kind))) return null;
    const what = parseIpAddress(this.host) ? address : `${address} (for ${this.host})`;
    return `${what} is ${SPECIAL_ADDRESS_DESCRIPTIONS[kind]}, which the allow-list does not name`;
  }
}

/** The operator's allow-list for MCP servers that requests name, parsed once from config. */
export class McpAllowList {
  private constructor(
    private readonly rules: readonly CompiledRule[],
    /** Identifies the list's contents: two lists with the same rules share connections. */
    readonly fingerprint: string,
  ) {}

  /** Parses config rules; throws McpAllowListError naming the first rule it cannot read. */
  static parse(rules: readonly McpAllowRule[]): McpAllowList {
    const compiled = rules.map((rule, index) => {
      try {
        return compileRule(rule);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new McpAllowListError(index, `MCP allow-list rule ${index}: ${reason}.`);
      }
    });
    return new McpAllowList(compiled, JSON.stringify(rules));
  }

  /** The rules that allow `url` (already parsed, with `hostname` normalised). */
  matching(url: URL, hostname: string): CompiledRule[] {
    return this.rules.filter((rule) => rule.matches(url, hostname));
  }

  get size(): number {
    return this.rules.length;
  }
}

/**
 * The allow-list as a config file holds it (a list of McpAllowRule), parsed into an
 * McpAllowList; a rule it cannot read is an issue at that rule's index.
 */
export const mcpAllowListSchema = z
  .array(
    z.union([
      z.string(),
      z.strictObject({
        url: z.string().optional(),
        host: z.string().optional(),
        addresses: z.array(z.string()),
      }),
    ]),
  )
  .transform((rules, context) => {
    try {
      return McpAllowList.parse(rules as McpAllowRule[]);
    } catch (error) {
      if (!(error instanceof McpAllowListError)) throw error;
      context.addIssue({ code: 'custom', message: error.message, path: [error.rule] });
      return z.NEVER;
    }
  });

/**
 * Whether a request may use the MCP server at `url`, without resolving its name: an http(s)
 * URL without credentials, allowed by a rule, whose host is not a special address (or the
 * name `localhost`) unless a matching rule names it. A hostname that passes still needs its
 * addresses checked: `checkMcpUrlResolved`, and the connection guard, do that.
 */
export function checkMcpUrl(url: string | URL, allowList: McpAllowList): McpUrlCheck {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse(`"${String(url)}" is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    return refuse(`${parsed.protocol} URLs are not allowed: only http and https`);
  }
  if (parsed.username || parsed.password) {
    // URLs end up in logs and stored requests; credentials belong in the headers.
    return refuse('the URL carries credentials: send them as headers instead');
  }
  const hostname = normaliseHostname(parsed.hostname);
  const shown = displayUrl(parsed);
  const rules = allowList.matching(parsed, hostname);
  if (rules.length === 0) return refuse(`${shown} is not on the MCP server allow-list`);

  const policy = new McpAddressPolicy(hostname, rules);
  if (parseIpAddress(hostname)) {
    const refusal = policy.refusal(hostname);
    if (refusal) return refuse(`${shown} is not allowed: ${refusal}`);
  } else if (isLocalhostName(hostname)) {
    // RFC 6761: such names resolve to loopback, whatever a resolver says.
    const refusal = policy.refusal('127.0.0.1');
    if (refusal) {
      return refuse(
        `${shown} is not allowed: ${hostname} is a loopback name, which the allow-list does not name`,
      );
    }
  }
  return { ok: true, url: parsed, addresses: policy };
}

/** Resolves a hostname to all its addresses (node:dns `lookup` with `all: true` by default). */
export type McpResolver = (hostname: string) => Promise<string[]>;

export const systemResolver: McpResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** A URL check that passed, with the addresses its host resolved to (all of them allowed). */
export type McpResolvedUrlCheck =
  | { ok: true; url: URL; addresses: McpAddressPolicy; resolved: string[] }
  | { ok: false; reason: string };

/**
 * `checkMcpUrl`, then every address the host resolves to must be allowed too: one special
 * address among public ones refuses the URL, since a connection may use any of them. Use it
 * to refuse a request early with a clear reason; connections made through `McpClients` check
 * the addresses they connect to again, because a name may resolve differently a moment later.
 */
export async function checkMcpUrlResolved(
  url: string | URL,
  allowList: McpAllowList,
  resolve: McpResolver = systemResolver,
): Promise<McpResolvedUrlCheck> {
  const check = checkMcpUrl(url, allowList);
  if (!check.ok) return check;
  const hostname = normaliseHostname(check.url.hostname);
  if (parseIpAddress(hostname)) return { ...check, resolved: [hostname.replace(/^\[|\]$/g, '')] };
  let resolved: string[];
  try {
    resolved = await resolve(hostname);
  } catch (error) {
    const code = errorCode(error);
    return refuse(`${hostname} could not be resolved${code ? ` (${code})` : ''}`);
  }
  if (resolved.length === 0) return refuse(`${hostname} resolved to no address`);
  for (const address of resolved) {
    const refusal = check.addresses.refusal(address);
    if (refusal) return refuse(`${displayUrl(check.url)} is not allowed: ${refusal}`);
  }
  return { ...check, resolved };
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Lower case without the root's trailing dot: `Example.COM.` is `example.com`. */
export function normaliseHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/** The URL without query and fragment, which may carry secrets, for refusals and logs. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function errorCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}

// ---- Rules ----

function compileRule(rule: McpAllowRule): CompiledRule {
  if (typeof rule === 'string') return compileStringRule(rule.trim());
  // Checked again at run time: rules come from YAML, whatever the type says.
  const url = typeof rule.url === 'string' ? rule.url.trim() : null;
  const host = typeof rule.host === 'string' ? rule.host.trim() : null;
  let matches: Matcher;
  if (url !== null && host === null) matches = compileUrlPrefix(url);
  else if (host !== null && url === null) matches = compileHostPattern(host);
  else throw new TypeError('give exactly one of "url" and "host"');
  const addresses: unknown = rule.addresses;
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new TypeError('"addresses" must list the IP addresses or CIDR ranges the host may use');
  }
  const names = new NamedAddresses();
  for (const address of addresses) {
    if (typeof address !== 'string') throw new TypeError('"addresses" must hold strings');
    names.add(address.trim());
  }
  return { source: url ?? host ?? '', matches, names };
}

function compileStringRule(rule: string): CompiledRule {
  if (rule === '') throw new TypeError('the rule is empty');
  if (/^https?:\/\//i.test(rule)) {
    const url = new URL(rule);
    const names = new NamedAddresses();
    const literal = parseIpAddress(url.hostname);
    if (literal) names.add(literal.address);
    if (normaliseHostname(url.hostname) === 'localhost')
      LOOPBACK_SUBNETS.forEach((s) => names.add(s));
    return { source: rule, matches: compileUrlPrefix(rule), names };
  }
  if (rule.includes('://')) throw new TypeError(`"${rule}" is not an http or https URL`);
  const addressPart = rule.includes('/') ? rule.slice(0, rule.indexOf('/')) : rule;
  if (parseIpAddress(addressPart)) {
    const names = new NamedAddresses();
    names.add(rule.replace(/^\[([^\]]+)\]/, '$1'));
    return {
      source: rule,
      matches: (url, hostname) => isWebScheme(url) && names.contains(hostname),
      names,
    };
  }
  const names = new NamedAddresses();
  if (normaliseHostname(rule) === 'localhost') LOOPBACK_SUBNETS.forEach((s) => names.add(s));
  return { source: rule, matches: compileHostPattern(rule), names };
}

type Matcher = (url: URL, hostname: string) => boolean;

function isWebScheme(url: URL): boolean {
  return url.protocol === 'https:' || url.protocol === 'http:';
}

function compileHostPattern(pattern: string): Matcher {
  const hostMatches = hostMatcher(pattern);
  return (url, hostname) => isWebScheme(url) && hostMatches(hostname);
}

/** `example.com` matches itself; `*.example.com` matches its subdomains only. */
function hostMatcher(pattern: string): (hostname: string) => boolean {
  const wildcard = pattern.startsWith('*.');
  const base = wildcard ? pattern.slice(2) : pattern;
  if (base === '' || /[*/?#@:\s]/.test(base.replace(/^\[[^\]]*\]$/, ''))) {
    throw new TypeError(`"${pattern}" is not a host name or a pattern like *.example.com`);
  }
  const literal = parseIpAddress(base);
  if (literal && wildcard) throw new TypeError(`"${pattern}" puts a wildcard on an address`);
  // Through the URL parser, so the rule's host reads as a URL's would (case, IDN, dots).
  const canonical = literal
    ? literal.address
    : normaliseHostname(new URL(`http://${base}/`).hostname);
  if (literal) {
    const names = new NamedAddresses();
    names.add(canonical);
    return (hostname) => parseIpAddress(hostname) !== null && names.contains(hostname);
  }
  return wildcard
    ? (hostname) => hostname.endsWith(`.${canonical}`)
    : (hostname) => hostname === canonical;
}

function compileUrlPrefix(prefix: string): Matcher {
  let parsed: URL;
  try {
    parsed = new URL(prefix);
  } catch {
    throw new TypeError(`"${prefix}" is not a valid URL`);
  }
  if (!isWebScheme(parsed)) throw new TypeError(`"${prefix}" is not an http or https URL`);
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw new TypeError(`"${prefix}" may not carry credentials, a query or a fragment`);
  }
  const hostMatches = hostMatcher(parsed.hostname);
  const protocol = parsed.protocol;
  const port = effectivePort(parsed);
  const path = parsed.pathname.replace(/\/+$/, '');
  return (url, hostname) =>
    url.protocol === protocol &&
    effectivePort(url) === port &&
    hostMatches(hostname) &&
    (url.pathname === path || url.pathname.startsWith(`${path}/`) || path === '');
}

function effectivePort(url: URL): string {
  if (url.port) return url.port;
  return url.protocol === 'https:' ? '443' : '80';
}
