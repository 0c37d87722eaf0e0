import { BlockList, isIP } from 'node:net';

// Addresses a server-side request must not reach on a user's say-so: the host itself, the
// private network around it and the cloud's metadata service. A URL a client sends in a
// request may name any of them directly, or through a hostname that resolves to one.

/** Why an address is not an ordinary public one. */
export type SpecialAddressKind =
  | 'metadata'
  | 'unspecified'
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'shared'
  | 'multicast'
  | 'reserved';

/** How each kind reads in a refusal. */
export const SPECIAL_ADDRESS_DESCRIPTIONS: Readonly<Record<SpecialAddressKind, string>> = {
  metadata: 'a cloud metadata address',
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  'link-local': 'a link-local address',
  private: 'a private address',
  shared: 'a shared (carrier-grade NAT) address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

/**
 * Kinds an allow-list may open only by naming the very address, never with a wider range:
 * `169.254.0.0/16` names link-local hosts, not the metadata service inside it, and
 * `0.0.0.0` reaches this host's own services on Linux.
 */
export const EXACT_ONLY_KINDS: ReadonlySet<SpecialAddressKind> = new Set([
  'metadata',
  'unspecified',
]);

type Family = 'ipv4' | 'ipv6';
type Subnet = readonly [address: string, prefix: number];

/** The metadata services of the large clouds, which hand out credentials to whoever asks. */
const METADATA_ADDRESSES: readonly string[] = [
  '169.254.169.254', // AWS, GCP, Azure, DigitalOcean, OpenStack...
  '169.254.170.2', // AWS ECS task credentials
  'fd00:ec2::254', // AWS over IPv6
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud
  '168.63.129.16', // Azure's wire server, a public address only the platform answers
];

const IPV4_SUBNETS: Readonly<Record<Exclude<SpecialAddressKind, 'metadata'>, readonly Subnet[]>> = {
  unspecified: [['0.0.0.0', 8]],
  loopback: [['127.0.0.0', 8]],
  'link-local': [['169.254.0.0', 16]],
  private: [
    ['10.0.0.0', 8],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
  ],
  shared: [['100.64.0.0', 10]],
  multicast: [['224.0.0.0', 4]],
  reserved: [
    ['192.0.0.0', 24], // IETF protocol assignments
    ['192.0.2.0', 24], // documentation
    ['198.18.0.0', 15], // benchmarking
    ['198.51.100.0', 24], // documentation
    ['203.0.113.0', 24], // documentation
    ['240.0.0.0', 4], // future use, and the broadcast address
  ],
};

const IPV6_SUBNETS: Readonly<Record<Exclude<SpecialAddressKind, 'metadata'>, readonly Subnet[]>> = {
  unspecified: [['::', 128]],
  loopback: [['::1', 128]],
  'link-local': [['fe80::', 10]],
  private: [
    ['fc00::', 7], // unique local addresses
    ['fec0::', 10], // site-local, deprecated but still routed by some networks
  ],
  shared: [],
  multicast: [['ff00::', 8]],
  reserved: [
    ['::', 96], // IPv4-compatible addresses, deprecated
    ['100::', 64], // discard
    ['2001::', 23], // IETF protocol assignments, Teredo among them
    ['2001:db8::', 32], // documentation
  ],
};

/**
 * IPv6 prefixes that carry an IPv4 address in their low bits and reach it through a
 * translator: NAT64 (64:ff9b::/96, the IPv4 address in the last 32 bits) and 6to4
 * (2002::/16, in the 32 bits after the prefix). Each IPv4 range is blocked inside them too.
 * IPv4-mapped addresses (::ffff:a.b.c.d) need nothing here: BlockList matches them with
 * the IPv4 rules.
 */
function embeddedIpv4Subnets([address, prefix]: Subnet): Subnet[] {
  const octets = address.split('.').map(Number);
  const high = ((octets[0] << 8) | octets[1]).toString(16);
  const low = ((octets[2] << 8) | octets[3]).toString(16);
  return [
    [`64:ff9b::${address}`, 96 + prefix],
    [`2002:${high}:${low}::`, 16 + prefix],
  ];
}

function blockList(ipv4: readonly Subnet[], ipv6: readonly Subnet[]): BlockList {
  const list = new BlockList();
  for (const [address, prefix] of ipv4) {
    list.addSubnet(address, prefix, 'ipv4');
    for (const [embedded, embeddedPrefix] of embeddedIpv4Subnets([address, prefix])) {
      list.addSubnet(embedded, embeddedPrefix, 'ipv6');
    }
  }
  for (const [address, prefix] of ipv6) list.addSubnet(address, prefix, 'ipv6');
  return list;
}

function metadataList(): BlockList {
  const ipv4 = METADATA_ADDRESSES.filter((address) => isIP(address) === 4).map(
    (address): Subnet => [address, 32],
  );
  const ipv6 = METADATA_ADDRESSES.filter((address) => isIP(address) === 6).map(
    (address): Subnet => [address, 128],
  );
  return blockList(ipv4, ipv6);
}

/** Checked in this order, so an address gets its most telling kind (metadata before link-local). */
const KIND_LISTS: ReadonlyArray<readonly [SpecialAddressKind, BlockList]> = [
  ['metadata', metadataList()],
  ...(Object.keys(IPV4_SUBNETS) as Array<keyof typeof IPV4_SUBNETS>).map(
    (kind) => [kind, blockList(IPV4_SUBNETS[kind], IPV6_SUBNETS[kind])] as const,
  ),
];

/** An IP address without an IPv6 zone (`fe80::1%eth0`), with its family; null for anything else. */
export function parseIpAddress(text: string): { address: string; family: Family } | null {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const address = unbracketed.replace(/%.*$/, '');
  switch (isIP(address)) {
    case 4:
      return { address, family: 'ipv4' };
    case 6:
      return { address, family: 'ipv6' };
    default:
      return null;
  }
}

/** What is special about `address` (an IP literal), or null for an ordinary public address. */
export function classifyAddress(address: string): SpecialAddressKind | null {
  const ip = parseIpAddress(address);
  if (!ip) throw new TypeError(`${address} is not an IP address.`);
  for (const [kind, list] of KIND_LISTS) {
    if (list.check(ip.address, ip.family)) return kind;
  }
  return null;
}

/** The loopback ranges, which the name `localhost` stands for. */
export const LOOPBACK_SUBNETS: readonly string[] = ['127.0.0.0/8', '::1/128'];

/**
 * Addresses an allow-list rule names. A range opens the kinds that ranges may open; the
 * kinds in EXACT_ONLY_KINDS open only for an address named alone (a literal, or a /32 or
 * /128).
 */
export class NamedAddresses {
  private readonly ranges = new BlockList();
  private readonly exact = new BlockList();
  private empty = true;

  /** Adds an IP address or a CIDR range; throws a TypeError saying what is wrong with `text`. */
  add(text: string): void {
    const slash = text.indexOf('/');
    const ip = parseIpAddress(slash === -1 ? text : text.slice(0, slash));
    if (!ip) throw new TypeError(`"${text}" is not an IP address or a CIDR range`);
    const maxPrefix = ip.family === 'ipv4' ? 32 : 128;
    const prefix = slash === -1 ? maxPrefix : Number(text.slice(slash + 1));
    if (
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > maxPrefix ||
      slash === text.length - 1
    ) {
      throw new TypeError(`"${text}" has a prefix length that is not 0-${maxPrefix}`);
    }
    this.ranges.addSubnet(ip.address, prefix, ip.family);
    if (prefix === maxPrefix) this.exact.addAddress(ip.address, ip.family);
    this.empty = false;
  }

  /** Whether the rule names `address` well enough to open it despite being of `kind`. */
  opens(address: string, kind: SpecialAddressKind): boolean {
    const ip = parseIpAddress(address);
    if (!ip || this.empty) return false;
    const list = EXACT_ONLY_KINDS.has(kind) ? this.exact : this.ranges;
    return list.check(ip.address, ip.family);
  }

  /** Whether `address` lies in what the rule names, whatever its kind (for matching URL hosts). */
  contains(address: string): boolean {
    const ip = parseIpAddress(address);
    return ip !== null && !this.empty && this.ranges.check(ip.address, ip.family);
  }
}
