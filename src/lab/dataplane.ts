// Puts a Fabric into the kernel and keeps it there: the first time everything, afterwards only
// what differs from what it last programmed (a route, a rule, a link going up or down, one
// namespace's firewall). The lab removes what a previous run left before it builds, so what was
// last programmed is what the kernel holds, apart from faults a test injects on purpose.

import { LINKS, IMDS_ADDRESS, type Endpoint, type Fabric } from './fabric.js';
import { addNamespace, addVeth, deleteNamespace, ipBatch, restoreFirewall, setSysctls } from './kernel.js';
import { IGW_TO_INTERNET, IGW_TO_ROUTER, INSTANCE_LINK, INTERNET_TO_IGW, ROUTER_TO_IGW, type LabNames } from './names.js';

/** One thing the lab re-programmed, for the log and for measuring how fast it follows the emulator. */
export interface Programmed {
  what: 'endpoint-added' | 'endpoint-up' | 'endpoint-down' | 'endpoint-removed' | 'route' | 'rule' | 'firewall' | 'gateway';
  detail: string;
}

export class DataPlane {
  private readonly endpoints = new Map<string, Endpoint>();
  private rules = new Map<string, string>();
  private routes = new Map<string, string>();
  private routerFirewall = '';
  private gatewayFirewall = '';
  private internetAddresses = new Set<string>();

  constructor(private readonly names: LabNames) {}

  /** The router, the internet gateway and the internet, linked; then everything else. */
  async build(fabric: Fabric): Promise<Programmed[]> {
    const { router, internetGateway, internet } = this.names;
    await addNamespace(router);
    await addNamespace(internetGateway);
    await addNamespace(internet, fabric.hosts);
    // New links in the router inherit these: it answers ARP for the rest of the VPC on every link,
    // routes by policy (so no reverse-path filter) and sends no redirects.
    await setSysctls(router, {
      'net.ipv4.ip_forward': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
      'net.ipv4.conf.default.proxy_arp': 1,
      'net.ipv4.conf.all.send_redirects': 0,
      'net.ipv4.conf.default.send_redirects': 0,
    });
    // The internet routes between public addresses: a NAT's watcher pings the NAT's public IP,
    // which leaves through one translation of the gateway and comes back in through another.
    await setSysctls(internet, {
      'net.ipv4.ip_forward': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
      'net.ipv4.conf.all.send_redirects': 0,
      'net.ipv4.conf.default.send_redirects': 0,
    });
    await setSysctls(internetGateway, {
      'net.ipv4.ip_forward': 1,
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
    });
    await addVeth({ namespace: router, name: ROUTER_TO_IGW }, { namespace: internetGateway, name: IGW_TO_ROUTER });
    await addVeth({ namespace: internetGateway, name: IGW_TO_INTERNET }, { namespace: internet, name: INTERNET_TO_IGW });
    const { routerToIgw: a, igwToInternet: b } = LINKS;
    await ipBatch(router, [`addr add ${a.router}/${a.prefix} dev ${ROUTER_TO_IGW}`, `link set ${ROUTER_TO_IGW} up`]);
    await ipBatch(internetGateway, [
      `addr add ${a.igw}/${a.prefix} dev ${IGW_TO_ROUTER}`,
      `link set ${IGW_TO_ROUTER} up`,
      `addr add ${b.igw}/${b.prefix} dev ${IGW_TO_INTERNET}`,
      `link set ${IGW_TO_INTERNET} up`,
      `route add default via ${b.internet} dev ${IGW_TO_INTERNET}`,
      `route add ${fabric.internetGateway.vpcCidr} via ${a.router} dev ${IGW_TO_ROUTER}`,
    ]);
    await ipBatch(internet, [
      `addr add ${b.internet}/${b.prefix} dev ${INTERNET_TO_IGW}`,
      `link set ${INTERNET_TO_IGW} up`,
      // The internet sends everything it does not hold back to the gateway; the gateway drops
      // what is not one of its mappings, so nothing loops.
      `route add default via ${b.igw} dev ${INTERNET_TO_IGW}`,
    ]);
    return this.program(fabric);
  }

  async program(fabric: Fabric): Promise<Programmed[]> {
    const done: Programmed[] = [];
    const wanted = new Map(fabric.endpoints.map((e) => [e.key, e]));

    for (const endpoint of fabric.endpoints) {
      const had = this.endpoints.get(endpoint.key);
      if (!had) {
        await this.addEndpoint(endpoint, fabric.hosts);
        done.push({ what: 'endpoint-added', detail: `${endpoint.key} ${endpoint.address}` });
      } else if (had.up !== endpoint.up) {
        await this.setUp(endpoint);
        done.push({ what: endpoint.up ? 'endpoint-up' : 'endpoint-down', detail: endpoint.key });
      }
      this.endpoints.set(endpoint.key, endpoint);
    }

    const internetAddresses = new Set(fabric.internet.addresses);
    const addressLines = [
      ...[...internetAddresses].filter((a) => !this.internetAddresses.has(a)).map((a) => `addr add ${a}/32 dev lo`),
      ...[...this.internetAddresses].filter((a) => !internetAddresses.has(a)).map((a) => `addr del ${a}/32 dev lo`),
    ];
    await ipBatch(this.names.internet, addressLines, true);
    this.internetAddresses = internetAddresses;

    // A rule is replaced by deleting it first: two rules of one priority would both stay.
    const rules = changedLines(this.rules, fabric.router.rules);
    const staleRules = [...rules.removed, ...rules.replaced];
    await ipBatch(this.names.router, [...staleRules.map((l) => `rule del ${l}`), ...rules.added.map((l) => `rule add ${l}`)], true);
    for (const line of rules.added) done.push({ what: 'rule', detail: line });
    this.rules = fabric.router.rules;

    const routes = changedLines(this.routes, fabric.router.routes);
    await ipBatch(
      this.names.router,
      [...routes.removed.map((l) => `route del ${l}`), ...routes.added.map((l) => `route replace ${l}`)],
      true,
    );
    for (const line of routes.added) done.push({ what: 'route', detail: line });
    for (const line of routes.removed) done.push({ what: 'route', detail: `removed ${line}` });
    this.routes = fabric.router.routes;

    if (fabric.router.firewall !== this.routerFirewall) {
      await restoreFirewall(this.names.router, fabric.router.firewall);
      this.routerFirewall = fabric.router.firewall;
      done.push({ what: 'firewall', detail: 'router' });
    }
    if (fabric.internetGateway.firewall !== this.gatewayFirewall) {
      await restoreFirewall(this.names.internetGateway, fabric.internetGateway.firewall);
      this.gatewayFirewall = fabric.internetGateway.firewall;
      done.push({ what: 'gateway', detail: 'address translation' });
    }

    for (const [key, endpoint] of this.endpoints) {
      if (wanted.has(key)) continue;
      await deleteNamespace(endpoint.namespace);
      this.endpoints.delete(key);
      done.push({ what: 'endpoint-removed', detail: key });
    }
    return done;
  }

  private async addEndpoint(e: Endpoint, hosts: string): Promise<void> {
    await deleteNamespace(e.namespace);
    await addNamespace(e.namespace, hosts);
    await addVeth({ namespace: e.namespace, name: INSTANCE_LINK }, { namespace: this.names.router, name: e.port });
    await ipBatch(e.namespace, [
      ...(e.mac ? [`link set ${INSTANCE_LINK} address ${e.mac}`] : []),
      `addr add ${e.address}/${e.prefix} dev ${INSTANCE_LINK}`,
      // The metadata service answers inside the instance (the lab listens on this address there).
      ...(e.kind === 'nat' ? [`addr add ${IMDS_ADDRESS}/32 dev lo`] : []),
    ]);
    await ipBatch(this.names.router, [`addr add ${e.gateway}/32 dev ${e.port}`, `link set ${e.port} up`]);
    await this.setUp(e);
  }

  private async setUp(e: Endpoint): Promise<void> {
    // Taking a link down drops its routes: the default route goes back each time it comes up.
    await ipBatch(
      e.namespace,
      e.up
        ? [`link set ${INSTANCE_LINK} up`, `route replace default via ${e.gateway} dev ${INSTANCE_LINK}`]
        : [`link set ${INSTANCE_LINK} down`],
    );
  }
}

/** Lines new or changed (added), lines whose key is gone (removed), and the old lines of changed keys (replaced). */
function changedLines(before: Map<string, string>, after: Map<string, string>) {
  const added = [...after].filter(([k, line]) => before.get(k) !== line).map(([, line]) => line);
  const removed = [...before].filter(([k]) => !after.has(k)).map(([, line]) => line);
  const replaced = [...before].filter(([k, line]) => after.has(k) && after.get(k) !== line).map(([, line]) => line);
  return { added, removed, replaced };
}
