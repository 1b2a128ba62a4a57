// The data plane the lab wants, computed from what the emulator says (pure: world in, kernel
// configuration out). Programming it is kernel.ts's business; this file decides what it is.
//
//   private host ──┐                      ┌── internet (targets, heartbeat addresses, the API)
//   NAT instance ──┼── VPC router ── internet gateway
//   NAT instance ──┘
//
// Every instance and private host has one link to the VPC router, whose end there holds the
// subnet's router address (base + 1, as on AWS) and answers ARP for the rest of the VPC, so all
// traffic, even inside a subnet, crosses the router: that is where AWS's fabric enforces what an
// instance cannot change itself, source/destination check and security groups. The router picks
// the route table by the link a packet came in on (the subnet's associated table, or the main
// one); the VPC's own addresses are always delivered locally (the "local" route).

import { formatIPv4, lastAddress, networkAddress, parseCidr, parseIPv4 } from '../spec/cidr.js';
import { IGW_TO_INTERNET, IGW_TO_ROUTER, ROUTER_TO_IGW, routerPort, type LabNames } from './names.js';
import type { LabInstance, LabRule, LabWorld } from './world.js';

/** The router's and the gateway's ends of their link, and the gateway's and the internet's. */
export const LINKS = {
  routerToIgw: { router: '169.254.1.1', igw: '169.254.1.2', prefix: 30 },
  igwToInternet: { igw: '169.254.2.1', internet: '169.254.2.2', prefix: 30 },
};
/** Targets on the documentation ranges (TEST-NET-2 and TEST-NET-3). */
export const TEST_TARGETS = ['198.51.100.80', '203.0.113.80'];
/** Where the EC2 API answers on the lab's internet (reached through a NAT's own internet path). */
export const API_ADDRESS = '203.0.113.10';
/** The instance metadata service, inside every instance. */
export const IMDS_ADDRESS = '169.254.169.254';
/** The first address handed to the heartbeat's internet names (198.51.100.101, .102, …). */
const FIRST_NAME_ADDRESS = '198.51.100.101';

export interface LabZone {
  availabilityZone: string;
  heartbeat: { viaPeer: string; viaInternetGateway: string };
}

export interface Endpoint {
  /** host/<az>, or the instance id. */
  key: string;
  kind: 'host' | 'nat';
  namespace: string;
  availabilityZone: string;
  address: string;
  /** The subnet's prefix length. */
  prefix: number;
  /** The subnet's router address. */
  gateway: string;
  mac: string | undefined;
  /** The instance is running: its link carries packets. */
  up: boolean;
  /** The router's end of the link. */
  port: string;
  subnetId: string;
  instance: LabInstance | undefined;
}

export interface Fabric {
  endpoints: Endpoint[];
  router: {
    /** ip rule lines by key. */
    rules: Map<string, string>;
    /** ip route lines by key. */
    routes: Map<string, string>;
    /** iptables-restore input. */
    firewall: string;
  };
  internetGateway: { firewall: string; vpcCidr: string };
  internet: { addresses: string[] };
  /** The hosts file every instance and private host sees. */
  hosts: string;
  /** Every name and address the internet answers on. */
  targets: InternetTarget[];
}

export interface InternetTarget {
  address: string;
  names: string[];
  /** Why it is there. */
  role: 'test' | 'heartbeat-via-peer' | 'heartbeat-via-internet-gateway' | 'ec2-api';
}

/** Numbers the kernel needs that must stay the same while the lab runs (route tables, rule priorities). */
export interface Numbering {
  table(routeTableId: string): number;
  priority(port: string): number;
}

export function internetTargets(zones: readonly LabZone[], region: string): InternetTarget[] {
  const targets: InternetTarget[] = TEST_TARGETS.map((address) => ({ address, names: [], role: 'test' }));
  for (const zone of zones) {
    if (!targets.some((t) => t.address === zone.heartbeat.viaPeer)) {
      targets.push({ address: zone.heartbeat.viaPeer, names: [], role: 'heartbeat-via-peer' });
    }
  }
  const names = [...new Set(zones.map((z) => z.heartbeat.viaInternetGateway))];
  names.forEach((name, i) => {
    // A heartbeat target may be written as an address rather than a name.
    if (parseIPv4(name).ok) {
      if (!targets.some((t) => t.address === name)) targets.push({ address: name, names: [], role: 'heartbeat-via-internet-gateway' });
      return;
    }
    const address = formatIPv4(addressOf(FIRST_NAME_ADDRESS) + i);
    targets.push({ address, names: [name], role: 'heartbeat-via-internet-gateway' });
  });
  targets.push({ address: API_ADDRESS, names: [`ec2.${region}.amazonaws.com`], role: 'ec2-api' });
  return targets;
}

export function fabricFor(input: {
  world: LabWorld;
  zones: readonly LabZone[];
  region: string;
  names: LabNames;
  numbering: Numbering;
}): Fabric {
  const { world, zones, names, numbering } = input;
  const subnets = new Map(world.subnets.map((s) => [s.id, s]));
  const endpoints: Endpoint[] = [];
  for (const zone of zones) {
    const az = zone.availabilityZone;
    const subnet = world.subnets.find((s) => s.logicalId === `subnet/private/${az}`);
    if (!subnet) continue; // the private subnet is gone: its host has nowhere to be
    const cidr = cidrOf(subnet.cidr);
    endpoints.push({
      key: `host/${az}`,
      kind: 'host',
      namespace: names.host(az),
      availabilityZone: az,
      // The subnet's last usable address (AWS reserves the very last): clear of what EC2 hands out first.
      address: formatIPv4(lastAddress(cidr) - 1),
      prefix: cidr.prefix,
      gateway: routerAddress(subnet.cidr),
      mac: undefined,
      up: true,
      port: routerPort(`host/${az}`),
      subnetId: subnet.id,
      instance: undefined,
    });
  }
  for (const instance of world.instances) {
    const subnet = subnets.get(instance.subnetId);
    if (!subnet) continue;
    endpoints.push({
      key: instance.id,
      kind: 'nat',
      namespace: names.instance(instance.id),
      availabilityZone: instance.availabilityZone,
      address: instance.privateIp,
      prefix: cidrOf(subnet.cidr).prefix,
      gateway: routerAddress(subnet.cidr),
      mac: instance.mac || undefined,
      up: instance.state === 'running',
      port: routerPort(instance.id),
      subnetId: subnet.id,
      instance,
    });
  }

  const targets = internetTargets(zones, input.region);
  return {
    endpoints,
    router: {
      rules: routerRules(world, endpoints, numbering),
      routes: routerRoutes(world, endpoints, numbering),
      firewall: routerFirewall(world, endpoints),
    },
    internetGateway: { firewall: gatewayFirewall(world), vpcCidr: world.vpc.cidr },
    internet: { addresses: targets.map((t) => t.address) },
    hosts: hostsFile(targets),
    targets,
  };
}

/** The route table a subnet uses: the one associated with it, or the VPC's main table. */
export function tableOf(world: LabWorld, subnetId: string) {
  return world.routeTables.find((t) => t.subnetIds.includes(subnetId)) ?? world.routeTables.find((t) => t.main);
}

export function routerAddress(subnetCidr: string): string {
  return formatIPv4(networkAddress(cidrOf(subnetCidr)) + 1);
}

function routerRules(world: LabWorld, endpoints: Endpoint[], numbering: Numbering): Map<string, string> {
  const rules = new Map<string, string>();
  // The local route: the VPC's own addresses are delivered to whoever holds them, whatever the table says.
  rules.set('local', `priority 100 to ${world.vpc.cidr} lookup main`);
  for (const e of endpoints) {
    const table = tableOf(world, e.subnetId);
    if (table) rules.set(e.port, `priority ${numbering.priority(e.port)} iif ${e.port} lookup ${numbering.table(table.id)}`);
  }
  return rules;
}

function routerRoutes(world: LabWorld, endpoints: Endpoint[], numbering: Numbering): Map<string, string> {
  const routes = new Map<string, string>();
  for (const e of endpoints) routes.set(`main ${e.address}/32`, `${e.address}/32 dev ${e.port} scope link`);
  const byTarget = new Map<string, Endpoint>();
  for (const e of endpoints) {
    if (!e.instance) continue;
    byTarget.set(e.instance.id, e);
    byTarget.set(e.instance.networkInterfaceId, e);
  }
  const usedTables = new Set(endpoints.map((e) => tableOf(world, e.subnetId)?.id).filter((id): id is string => !!id));
  for (const table of world.routeTables) {
    if (!usedTables.has(table.id)) continue;
    const number = numbering.table(table.id);
    for (const route of table.routes) {
      if (route.target === 'local') continue;
      const key = `${number} ${route.destination}`;
      const nextHop = route.state === 'blackhole' ? undefined : nextHopOf(route.target, world, byTarget);
      routes.set(
        key,
        nextHop ? `${route.destination} ${nextHop} onlink table ${number}` : `blackhole ${route.destination} table ${number}`,
      );
    }
  }
  return routes;
}

function nextHopOf(target: string | undefined, world: LabWorld, byTarget: Map<string, Endpoint>): string | undefined {
  if (!target) return undefined;
  if (target === world.internetGatewayId) return `via ${LINKS.routerToIgw.igw} dev ${ROUTER_TO_IGW}`;
  const endpoint = byTarget.get(target);
  // An instance that is not running is a blackhole, as AWS reports it.
  return endpoint?.up ? `via ${endpoint.address} dev ${endpoint.port}` : undefined;
}

// Source/destination check first (it applies to every packet), then the security groups, which
// are stateful: what an instance sent may come back, whatever its rules say.
function routerFirewall(world: LabWorld, endpoints: Endpoint[]): string {
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]'];
  const rules: string[] = [];
  for (const e of endpoints) {
    if (e.instance && !e.instance.sourceDestCheck) continue;
    rules.push(`-A FORWARD -i ${e.port} ! -s ${e.address}/32 -j DROP`, `-A FORWARD -o ${e.port} ! -d ${e.address}/32 -j DROP`);
  }
  // The internet gateway translates only the address of the interface a packet left by: what an
  // instance forwards from others unmasqueraded does not get out (so a NAT whose masquerade is
  // broken looks broken to a probe through it, even from a peer that has a public IP itself).
  for (const e of endpoints) rules.push(`-A FORWARD -i ${e.port} -o ${ROUTER_TO_IGW} ! -s ${e.address}/32 -j DROP`);
  rules.push('-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
  for (const e of endpoints) {
    if (!e.instance) continue;
    const groups = e.instance.groupIds.map((id) => world.securityGroups[id]).filter((g) => g !== undefined);
    for (const [direction, flag, peer] of [
      ['in', '-o', '-s'],
      ['out', '-i', '-d'],
    ] as const) {
      const chain = `sg-${direction}-${e.port}`;
      lines.push(`:${chain} - [0:0]`);
      rules.push(`-A FORWARD ${flag} ${e.port} -j ${chain}`);
      for (const group of groups) {
        for (const rule of direction === 'in' ? group.ingress : group.egress) {
          for (const match of ruleMatches(rule, world)) rules.push(`-A ${chain} ${peer} ${match.peer} ${match.protocol} -j ACCEPT`);
        }
      }
      rules.push(`-A ${chain} -j DROP`);
    }
  }
  return [...lines, ...rules, 'COMMIT', ''].join('\n');
}

function ruleMatches(rule: LabRule, world: LabWorld): { peer: string; protocol: string }[] {
  const members = rule.groupIds.flatMap((id) => world.instances.filter((i) => i.groupIds.includes(id)).map((i) => `${i.privateIp}/32`));
  const protocol = protocolMatch(rule);
  return [...rule.cidrs, ...members].map((peer) => ({ peer, protocol }));
}

function protocolMatch(rule: LabRule): string {
  const names: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp' };
  const protocol = names[rule.protocol] ?? rule.protocol;
  if (protocol === 'all') return '';
  if ((protocol === 'tcp' || protocol === 'udp') && rule.fromPort !== undefined && rule.fromPort >= 0) {
    return `-p ${protocol} -m ${protocol} --dport ${rule.fromPort}:${rule.toPort ?? rule.fromPort}`;
  }
  if (protocol === 'icmp' && rule.fromPort !== undefined && rule.fromPort >= 0) {
    return `-p icmp --icmp-type ${rule.fromPort}${rule.toPort !== undefined && rule.toPort >= 0 ? `/${rule.toPort}` : ''}`;
  }
  return `-p ${protocol}`;
}

// 1:1 between each running instance's private and public address. An address without a public
// IP does not reach the internet through the gateway, and nothing from the internet reaches an
// address that has none, as on AWS. A detached gateway carries nothing.
function gatewayFirewall(world: LabWorld): string {
  const mapped = world.internetGatewayId
    ? world.instances.filter((i): i is LabInstance & { publicIp: string } => i.state === 'running' && !!i.publicIp)
    : [];
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...mapped.map((i) => `-A PREROUTING -i ${IGW_TO_INTERNET} -d ${i.publicIp}/32 -j DNAT --to-destination ${i.privateIp}`),
    ...mapped.map((i) => `-A POSTROUTING -o ${IGW_TO_INTERNET} -s ${i.privateIp}/32 -j SNAT --to-source ${i.publicIp}`),
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    ...mapped.map((i) => `-A FORWARD -i ${IGW_TO_ROUTER} -o ${IGW_TO_INTERNET} -s ${i.privateIp}/32 -j ACCEPT`),
    ...mapped.map((i) => `-A FORWARD -i ${IGW_TO_INTERNET} -o ${IGW_TO_ROUTER} -d ${i.privateIp}/32 -j ACCEPT`),
    'COMMIT',
    '',
  ].join('\n');
}

function hostsFile(targets: InternetTarget[]): string {
  const named = targets.filter((t) => t.names.length > 0).map((t) => `${t.address} ${t.names.join(' ')}`);
  return ['127.0.0.1 localhost', '::1 localhost', ...named, ''].join('\n');
}

function cidrOf(text: string) {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`EC2 returned a CIDR the lab cannot read: ${text}`);
  return parsed.value;
}

function addressOf(text: string): number {
  const parsed = parseIPv4(text);
  if (!parsed.ok) throw new Error(`not an IPv4 address: ${text}`);
  return parsed.value;
}
