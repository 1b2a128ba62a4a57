// Semantic checks that JSON Schema cannot express: CIDR arithmetic, subnets inside the VPC and not
// overlapping, availability zones in the region and distinct, heartbeat targets that can work, and
// the settings that belong to one NAT manager (the opsworks section, nat.imageId, the failover
// section), a failover topic that can take the agents' messages, and repeats in the opsworks section.
//
// The rules see the plain data parsed from YAML, which may still be malformed elsewhere, so they
// only look at a field when it is a string that already passed the schema (`ctx.passedSchema`).
// Each field gets at most one problem: the first rule it breaks.

import {
  aligned,
  containsAddress,
  containsCidr,
  firstFreeBlock,
  formatCidr,
  hasHostBits,
  overlaps,
  parseCidr,
  parseIPv4,
  specialAddressKind,
  type Cidr,
} from './cidr.js';

/** A field's location in the spec, e.g. ['zones', 1, 'publicSubnet']. */
export type Path = readonly (string | number)[];

export interface RuleProblem {
  path: Path;
  message: string;
  /** Where to point: at the value (the default) or, for a field that should not be there, at its key. */
  target?: 'value' | 'key';
}

export interface RuleContext {
  /** The region zones must belong to (the override, if any, else the spec's); undefined if unusable. */
  region: string | undefined;
  /** True when `region` came from the caller's override rather than the spec. */
  regionOverridden: boolean;
  /** True when JSON Schema found nothing wrong with the value at this path. */
  passedSchema(path: Path): boolean;
  /** Where the field starts in the source, to order fields as written; defaults to list order. */
  sourceOffset?(path: Path): number;
}

/** AWS limits on VPC and subnet prefix lengths. */
export const MIN_PREFIX = 16;
export const MAX_PREFIX = 28;

/** Formats a path the way messages show it: zones[1].heartbeat.viaPeer. */
export function formatPath(path: Path): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

export function checkRules(data: unknown, ctx: RuleContext): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const report: Report = (path, message, target) => {
    problems.push(target === undefined ? { path, message } : { path, message, target });
  };
  /** The string at `path`, when there is one and the schema accepted it. */
  const read = (path: Path): string | undefined => {
    const value = valueAt(data, path);
    return typeof value === 'string' && ctx.passedSchema(path) ? value : undefined;
  };
  const zoneCount = arrayLength(valueAt(data, ['zones']));
  const zonePaths = (field: Path): Path[] => Array.from({ length: zoneCount }, (_, i) => ['zones', i, ...field]);
  const inSourceOrder = (paths: Path[]): Path[] =>
    ctx.sourceOffset ? [...paths].sort((a, b) => ctx.sourceOffset!(a) - ctx.sourceOffset!(b)) : paths;

  const vpc = checkVpcCidr(read(['vpc', 'cidr']), (message) => report(['vpc', 'cidr'], message));
  const subnetPaths = inSourceOrder(
    zonePaths([]).flatMap((zone) => [
      [...zone, 'publicSubnet'],
      [...zone, 'privateSubnet'],
    ]),
  );
  checkSubnets(subnetPaths, read, vpc, report);
  checkAvailabilityZones(zonePaths(['availabilityZone']), read, ctx, report);
  checkHeartbeats(zonePaths(['heartbeat', 'viaPeer']), zonePaths(['heartbeat', 'viaInternetGateway']), read, vpc, report);
  checkManager(data, read, ctx, report);
  checkElasticIps(data, zoneCount, read, report);
  checkFailover(read, report);
  checkPermissions(data, read, report);
  for (const layer of OPSWORKS_LAYERS) checkPackages(data, ['opsworks', 'layers', layer, 'packages'], read, report);
  return problems;
}

type Read = (path: Path) => string | undefined;
type Report = (path: Path, message: string, target?: 'value' | 'key') => void;
interface Block {
  path: Path;
  text: string;
  cidr: Cidr;
}

// ---- CIDR blocks ----------------------------------------------------------------------------------

/** Checks one CIDR block on its own: syntax, AWS prefix range, host bits. Returns it when good. */
function checkBlock(text: string, kind: 'VPC' | 'subnet', report: (message: string) => void): Cidr | undefined {
  const parsed = parseCidr(text);
  if (!parsed.ok) {
    report(`${text} ${parsed.reason}`);
    return undefined;
  }
  const cidr = parsed.value;
  if (cidr.prefix < MIN_PREFIX || cidr.prefix > MAX_PREFIX) {
    const size = cidr.prefix < MIN_PREFIX ? 'larger' : 'smaller';
    const example = aligned({ address: cidr.address, prefix: cidr.prefix < MIN_PREFIX ? MIN_PREFIX : MAX_PREFIX });
    report(
      `${text} is ${size} than AWS allows for a ${kind}; use a prefix length from /${MIN_PREFIX} to /${MAX_PREFIX}, ` +
        `such as ${formatCidr(example)}`,
    );
    return undefined;
  }
  if (hasHostBits(cidr)) {
    report(`${text} has host bits set; did you mean ${formatCidr(aligned(cidr))}?`);
    return undefined;
  }
  return cidr;
}

function checkVpcCidr(text: string | undefined, report: (message: string) => void): Block | undefined {
  if (text === undefined) return undefined;
  const cidr = checkBlock(text, 'VPC', report);
  return cidr && { path: ['vpc', 'cidr'], text, cidr };
}

/**
 * Each subnet on its own, then inside the VPC, then not overlapping an earlier subnet (the later
 * one of an overlapping pair is reported, naming the earlier one).
 */
function checkSubnets(paths: Path[], read: Read, vpc: Block | undefined, report: Report): void {
  const good: Block[] = [];
  for (const path of paths) {
    const text = read(path);
    const cidr = text === undefined ? undefined : checkBlock(text, 'subnet', (message) => report(path, message));
    if (text !== undefined && cidr) good.push({ path, text, cidr });
  }

  let inside = good;
  if (vpc) {
    inside = good.filter((subnet) => containsCidr(vpc.cidr, subnet.cidr));
    const taken = inside.map((subnet) => subnet.cidr);
    for (const subnet of good) {
      if (inside.includes(subnet)) continue;
      const how = overlaps(vpc.cidr, subnet.cidr) ? 'extends beyond' : 'is outside';
      report(subnet.path, `${subnet.text} ${how} the VPC CIDR ${vpc.text}; choose a block inside it${suggest(vpc, subnet, taken)}`);
    }
  }

  const earlier: Block[] = [];
  for (const subnet of inside) {
    const clash = earlier.find((other) => overlaps(other.cidr, subnet.cidr));
    if (clash) {
      const taken = inside.filter((other) => other !== subnet).map((other) => other.cidr);
      report(
        subnet.path,
        `${subnet.text} overlaps ${formatPath(clash.path)} (${clash.text}); ` +
          `choose a block no other subnet uses${vpc ? suggest(vpc, subnet, taken) : ''}`,
      );
    } else {
      earlier.push(subnet);
    }
  }
}

/** ", such as 10.0.2.0/24": a free block of the subnet's size inside the VPC, if there is one. */
function suggest(vpc: Block, subnet: Block, taken: Cidr[]): string {
  const free = firstFreeBlock(vpc.cidr, subnet.cidr.prefix, taken);
  return free ? `, such as ${formatCidr(free)}` : '';
}

// ---- Availability zones ---------------------------------------------------------------------------

/**
 * A zone is in region R when it is R plus one letter (ap-northeast-1c), or R, a hyphen and more
 * (Local Zones such as us-west-2-lax-1a, Wavelength Zones such as us-east-1-wl1-bos-wlz-1).
 */
export function zoneIsInRegion(zone: string, region: string): boolean {
  if (!zone.startsWith(region)) return false;
  const rest = zone.slice(region.length);
  return /^[a-z]$/.test(rest) || /^-[a-z0-9-]+$/.test(rest);
}

function checkAvailabilityZones(paths: Path[], read: Read, ctx: RuleContext, report: Report): void {
  const firstUse = new Map<string, Path>();
  for (const path of paths) {
    const zone = read(path);
    if (zone === undefined) continue;
    const region = ctx.region;
    if (region !== undefined && !zoneIsInRegion(zone, region)) {
      const source = ctx.regionOverridden ? ' (the region override)' : '';
      report(path, `${zone} is not in region ${region}${source}; use one of ${region}'s zones, such as ${region}a`);
      continue;
    }
    const first = firstUse.get(zone);
    if (first) {
      report(path, `${zone} is already used by ${formatPath(first.slice(0, 2))}; give each zone a different availability zone`);
      continue;
    }
    firstUse.set(zone, path);
  }
}

// ---- Heartbeats -----------------------------------------------------------------------------------

/**
 * viaPeer: one public IPv4 host outside the VPC, different in every zone (each zone gets its own /32
 * route through its peer). viaInternetGateway: a hostname, or an IPv4 address held to the same
 * standard, which must not be any zone's viaPeer (its /32 route would send the ping through a peer).
 */
function checkHeartbeats(peerPaths: Path[], gatewayPaths: Path[], read: Read, vpc: Block | undefined, report: Report): void {
  const peers: { path: Path; text: string; address: number }[] = [];
  for (const path of peerPaths) {
    const text = read(path);
    if (text === undefined) continue;
    const address = checkHost(text, vpc, "so its /32 route can send the pings through the next zone's NAT", (m) => report(path, m));
    if (address === undefined) continue;
    const first = peers.find((peer) => peer.address === address);
    if (first) {
      report(
        path,
        `${text} is already ${formatPath(first.path)}; give each zone a different address, since each zone's ` +
          `address gets its own /32 route through its peer`,
      );
      continue;
    }
    peers.push({ path, text, address });
  }

  for (const path of gatewayPaths) {
    const text = read(path);
    if (text === undefined) continue;
    const labels = text.replace(/\.$/, '').split('.');
    if (!/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) continue; // a hostname; the schema checked its form
    if (labels.length !== 4) {
      report(
        path,
        `${text} is neither a hostname (a hostname does not end in a number) nor an IPv4 address; ` +
          `give a hostname such as google.co.jp or an IPv4 address such as 1.1.1.1`,
      );
      continue;
    }
    const address = checkHost(text, vpc, 'so the ping tests the internet gateway', (m) => report(path, m));
    if (address === undefined) continue;
    const peer = peers.find((p) => p.address === address);
    if (peer) {
      report(
        path,
        `${text} is also ${formatPath(peer.path)}, whose /32 route goes through a peer NAT; ` +
          `use an address that is no zone's viaPeer, such as a hostname like google.co.jp`,
      );
    }
  }
}

/** Checks a heartbeat target address; returns it when it is a usable public host outside the VPC. */
function checkHost(text: string, vpc: Block | undefined, why: string, report: (message: string) => void): number | undefined {
  const parsed = parseIPv4(text);
  if (!parsed.ok) {
    report(`${text} ${parsed.reason}`);
    return undefined;
  }
  const special = specialAddressKind(parsed.value);
  if (special) {
    report(`${text} is ${special}; use a public address that answers ping, such as 8.8.8.8`);
    return undefined;
  }
  if (vpc && containsAddress(vpc.cidr, parsed.value)) {
    report(`${text} is inside the VPC CIDR ${vpc.text}; use a public address outside the VPC, ${why}`);
    return undefined;
  }
  return parsed.value;
}

// ---- The NAT manager and the opsworks section -----------------------------------------------------

/** The nat fields that only nat.manager ec2 uses. */
const EC2_ONLY_FIELDS = ['imageId', 'instanceProfileArn'] as const;
const OPSWORKS_LAYERS = ['admin', 'nat'] as const;

/**
 * The opsworks section is there exactly when nat.manager is opsworks, and the ec2-only nat fields
 * are not used with opsworks. Nothing is said when nat.manager itself is missing or malformed.
 */
function checkManager(data: unknown, read: Read, ctx: RuleContext, report: Report): void {
  const manager = read(['nat', 'manager']);
  const hasSection = isRecord(data) && Object.hasOwn(data, 'opsworks');
  if (manager === 'opsworks') {
    if (!hasSection) {
      report(
        ['nat', 'manager'],
        // The line already starts "nat.manager: ", so the sentence starts at the verb.
        'is "opsworks" but the spec has no opsworks section; ' +
          'add one with at least serviceRoleArn, defaultInstanceProfileArn and customCookbooks.url',
      );
    }
    const nat = valueAt(data, ['nat']);
    for (const field of EC2_ONLY_FIELDS) {
      if (!isRecord(nat) || !Object.hasOwn(nat, field) || !ctx.passedSchema(['nat', field])) continue;
      report(
        ['nat', field],
        "applies to nat.manager ec2 only; OpsWorks picks the image from the layer's os, " +
          'and the instances use opsworks.defaultInstanceProfileArn',
        'key',
      );
    }
    if (isRecord(nat) && Object.hasOwn(nat, 'elasticIps') && nat.elasticIps !== false) {
      report(['nat', 'elasticIps'], "applies to nat.manager ec2 only; with OpsWorks the NAT layer's settings assign addresses", 'key');
    }
    if (isRecord(data) && Object.hasOwn(data, 'failover') && ctx.passedSchema(['failover'])) {
      report(
        ['failover'],
        "applies to nat.manager ec2 only: OpsWorks NATs run the vpcnat cookbook's heartbeat; remove it or set nat.manager to ec2",
        'key',
      );
    }
  } else if (manager === 'ec2' && hasSection && ctx.passedSchema(['opsworks'])) {
    report(['opsworks'], 'applies only with nat.manager: opsworks; remove it or set nat.manager to opsworks', 'key');
  }
}

/** A FIFO topic takes no message without a message group id: the agents publish to standard topics. */
function checkFailover(read: Read, report: Report): void {
  const topic = read(['failover', 'snsTopicArn']);
  if (topic?.endsWith('.fifo')) {
    report(
      ['failover', 'snsTopicArn'],
      `${topic} is a FIFO topic, which refuses a message without a message group id; name a standard topic, such as ${topic.replace(/\.fifo$/, '')}`,
    );
  }
}

/**
 * nat.elasticIps as a list (the schema checked its form): one allocation id per zone, the n-th for
 * the n-th zone, none twice. Whether they exist is asked of AWS at plan time.
 */
function checkElasticIps(data: unknown, zoneCount: number, read: Read, report: Report): void {
  const path: Path = ['nat', 'elasticIps'];
  const list = valueAt(data, path);
  if (!Array.isArray(list)) return;
  if (zoneCount > 0 && list.length !== zoneCount) {
    report(
      path,
      `has ${list.length} allocation id${list.length === 1 ? '' : 's'} for ${zoneCount} zones; give one per zone, in the order of ` +
        'zones, or write true to have the stack allocate them',
    );
  }
  const seen = new Map<string, Path>();
  list.forEach((_, i) => {
    const at: Path = [...path, i];
    const id = read(at);
    if (id === undefined) return;
    const first = seen.get(id);
    if (first) report(at, `${id} is already ${formatPath(first)}; give each zone its own address`);
    else seen.set(id, at);
  });
}

/**
 * One entry per IAM user. IAM user names are unique in an account whatever their case or path, so
 * arn:aws:iam::123456789012:user/Alice and arn:aws:iam::123456789012:user/team/alice are one user.
 */
function checkPermissions(data: unknown, read: Read, report: Report): void {
  const count = arrayLength(valueAt(data, ['opsworks', 'permissions']));
  const seen = new Map<string, { path: Path; arn: string }>();
  for (let i = 0; i < count; i++) {
    const path: Path = ['opsworks', 'permissions', i, 'iamUserArn'];
    const entry = valueAt(data, ['opsworks', 'permissions', i]);
    // OpsWorks cannot delete a permission, only set it to nothing; one that grants nothing reads
    // back as absent, so it could never be seen as done.
    if (
      isRecord(entry) &&
      entry.allowSsh === false &&
      entry.allowSudo === false &&
      read(['opsworks', 'permissions', i, 'level']) === 'deny'
    ) {
      report(['opsworks', 'permissions', i], 'grants nothing (no SSH, no sudo, level deny), which is the same as no entry; remove it');
    }
    const arn = read(path);
    if (arn === undefined) continue;
    const key = iamUserKey(arn);
    const first = seen.get(key);
    if (!first) {
      seen.set(key, { path, arn });
      continue;
    }
    const fix = 'give each IAM user a single entry, with its allowSsh, allowSudo and level';
    if (first.arn === arn) {
      report(path, `${arn} is already ${formatPath(first.path)}; ${fix}`);
    } else {
      report(
        path,
        `${arn} is the same IAM user as ${formatPath(first.path)} (${first.arn}), since IAM user names are unique ` +
          `in an account whatever their case or path; ${fix}`,
      );
    }
  }
}

/** The account and user name of an IAM user ARN (the schema checked its form), the name in lower case. */
function iamUserKey(arn: string): string {
  const match = /^arn:([^:]*):iam::([0-9]{12}):user\/(?:.*\/)?([^/]+)$/.exec(arn);
  return match ? `${match[1]}:${match[2]}:${match[3]!.toLowerCase()}` : arn;
}

/** Each package listed once in a layer (the later repeat is reported, naming the first). */
function checkPackages(data: unknown, listPath: Path, read: Read, report: Report): void {
  const count = arrayLength(valueAt(data, listPath));
  const seen = new Map<string, Path>();
  for (let i = 0; i < count; i++) {
    const path: Path = [...listPath, i];
    const name = read(path);
    if (name === undefined) continue;
    const first = seen.get(name);
    if (first) report(path, `${name} is already ${formatPath(first)}; list each package once`);
    else seen.set(name, path);
  }
}

// ---- Reading loosely typed data ---------------------------------------------------------------------

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const segment of path) {
    if (typeof segment === 'number') value = Array.isArray(value) ? value[segment] : undefined;
    else value = isRecord(value) && Object.hasOwn(value, segment) ? value[segment] : undefined;
  }
  return value;
}

function arrayLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
