// The data plane the lab wants for what the emulator says (pure): which table each link uses,
// where each route goes, what the router's and the gateway's firewalls hold.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fabricFor, internetTargets, type Numbering } from '../../src/lab/fabric.js';
import { labNames, routerPort } from '../../src/lab/names.js';
import { parseUnit } from '../../src/lab/services.js';
import type { LabInstance, LabWorld } from '../../src/lab/world.js';

const zones = [
  { availabilityZone: 'az-a', heartbeat: { viaPeer: '8.8.4.4', viaInternetGateway: 'google.co.jp' } },
  { availabilityZone: 'az-b', heartbeat: { viaPeer: '8.8.8.8', viaInternetGateway: 'google.co.jp' } },
];

function nat(id: string, az: string, subnetId: string, privateIp: string, extra: Partial<LabInstance> = {}): LabInstance {
  return {
    id,
    logicalId: `nat/${az}`,
    availabilityZone: az,
    subnetId,
    privateIp,
    publicIp: `54.0.0.${privateIp.split('.')[3]}`,
    mac: '02:00:00:00:00:01',
    networkInterfaceId: `eni-${id}`,
    state: 'running',
    sourceDestCheck: false,
    groupIds: ['sg-nat'],
    launchTime: 0,
    instanceProfileArn: undefined,
    ...extra,
  };
}

function world(changes: Partial<LabWorld> = {}): LabWorld {
  return {
    vpc: { id: 'vpc-1', cidr: '10.0.0.0/16' },
    subnets: [
      { id: 'sn-pub-a', cidr: '10.0.0.0/24', availabilityZone: 'az-a', logicalId: 'subnet/public/az-a' },
      { id: 'sn-prv-a', cidr: '10.0.128.0/24', availabilityZone: 'az-a', logicalId: 'subnet/private/az-a' },
      { id: 'sn-pub-b', cidr: '10.0.1.0/24', availabilityZone: 'az-b', logicalId: 'subnet/public/az-b' },
      { id: 'sn-prv-b', cidr: '10.0.129.0/24', availabilityZone: 'az-b', logicalId: 'subnet/private/az-b' },
    ],
    routeTables: [
      { id: 'rtb-main', main: true, subnetIds: [], routes: [{ destination: '10.0.0.0/16', target: 'local', state: 'active' }] },
      {
        id: 'rtb-pub',
        main: false,
        subnetIds: ['sn-pub-a', 'sn-pub-b'],
        routes: [
          { destination: '10.0.0.0/16', target: 'local', state: 'active' },
          { destination: '0.0.0.0/0', target: 'igw-1', state: 'active' },
          { destination: '8.8.4.4/32', target: 'i-b', state: 'active' },
        ],
      },
      { id: 'rtb-prv-a', main: false, subnetIds: ['sn-prv-a'], routes: [{ destination: '0.0.0.0/0', target: 'i-a', state: 'active' }] },
      { id: 'rtb-prv-b', main: false, subnetIds: ['sn-prv-b'], routes: [{ destination: '0.0.0.0/0', target: 'eni-i-b', state: 'active' }] },
    ],
    internetGatewayId: 'igw-1',
    instances: [nat('i-a', 'az-a', 'sn-pub-a', '10.0.0.4'), nat('i-b', 'az-b', 'sn-pub-b', '10.0.1.4')],
    securityGroups: {
      'sg-nat': {
        ingress: [{ protocol: 'all', fromPort: undefined, toPort: undefined, cidrs: ['10.0.0.0/16'], groupIds: [] }],
        egress: [],
      },
    },
    ...changes,
  };
}

function numbering(): Numbering {
  const tables = ['rtb-main', 'rtb-pub', 'rtb-prv-a', 'rtb-prv-b'];
  return { table: (id) => 100 + tables.indexOf(id), priority: () => 1000 };
}

const fabric = (w: LabWorld) => fabricFor({ world: w, zones, region: 'r-1', names: labNames('s'), numbering: numbering() });

describe('lab fabric', () => {
  it('gives each zone a private host at its subnet’s last usable address, and each NAT its EC2 address', () => {
    const f = fabric(world());
    assert.deepEqual(
      f.endpoints.map((e) => [e.key, e.namespace, e.address, e.prefix, e.gateway, e.up]),
      [
        ['host/az-a', 'dwlab-s.host-az-a', '10.0.128.254', 24, '10.0.128.1', true],
        ['host/az-b', 'dwlab-s.host-az-b', '10.0.129.254', 24, '10.0.129.1', true],
        ['i-a', 'dwlab-s.i-a', '10.0.0.4', 24, '10.0.0.1', true],
        ['i-b', 'dwlab-s.i-b', '10.0.1.4', 24, '10.0.1.1', true],
      ],
    );
  });

  it('routes by the associated table, keeps the VPC local, and sends instance and ENI routes to the instance', () => {
    const f = fabric(world());
    const pa = routerPort('i-a');
    const pb = routerPort('i-b');
    assert.equal(f.router.rules.get('local'), 'priority 100 to 10.0.0.0/16 lookup main');
    assert.equal(f.router.rules.get(routerPort('host/az-a')), `priority 1000 iif ${routerPort('host/az-a')} lookup 102`);
    assert.equal(f.router.rules.get(pa), `priority 1000 iif ${pa} lookup 101`);
    assert.equal(f.router.routes.get('101 0.0.0.0/0'), '0.0.0.0/0 via 169.254.1.2 dev igw0 onlink table 101');
    assert.equal(f.router.routes.get('101 8.8.4.4/32'), `8.8.4.4/32 via 10.0.1.4 dev ${pb} onlink table 101`);
    assert.equal(f.router.routes.get('102 0.0.0.0/0'), `0.0.0.0/0 via 10.0.0.4 dev ${pa} onlink table 102`);
    assert.equal(f.router.routes.get('103 0.0.0.0/0'), `0.0.0.0/0 via 10.0.1.4 dev ${pb} onlink table 103`, 'an ENI target');
    assert.equal(f.router.routes.get('main 10.0.0.4/32'), `10.0.0.4/32 dev ${pa} scope link`);
    assert.ok(![...f.router.routes.keys()].some((k) => k.startsWith('100 ')), 'the unused main table is not programmed');
  });

  it('makes a route to an instance that is not running a blackhole, and its link down', () => {
    const w = world();
    w.instances[0] = { ...w.instances[0]!, state: 'stopped' };
    const f = fabric(w);
    assert.equal(f.router.routes.get('102 0.0.0.0/0'), 'blackhole 0.0.0.0/0 table 102');
    assert.equal(f.endpoints.find((e) => e.key === 'i-a')!.up, false);
    assert.doesNotMatch(f.internetGateway.firewall, /10\.0\.0\.4/, 'no translation for a stopped instance');
  });

  it('uses the main table for a subnet whose association is gone', () => {
    const w = world();
    w.routeTables = w.routeTables.map((t) => (t.id === 'rtb-prv-a' ? { ...t, subnetIds: [] } : t));
    const f = fabric(w);
    assert.match(f.router.rules.get(routerPort('host/az-a'))!, /lookup 100$/);
  });

  it('takes blackhole routes and unknown targets as blackholes, and a detached gateway as one', () => {
    const w = world({ internetGatewayId: undefined });
    w.routeTables[1]!.routes.push({ destination: '1.2.3.0/24', target: 'pcx-1', state: 'active' });
    w.routeTables[1]!.routes.push({ destination: '1.2.4.0/24', target: 'i-a', state: 'blackhole' });
    const f = fabric(w);
    assert.equal(f.router.routes.get('101 0.0.0.0/0'), 'blackhole 0.0.0.0/0 table 101');
    assert.equal(f.router.routes.get('101 1.2.3.0/24'), 'blackhole 1.2.3.0/24 table 101');
    assert.equal(f.router.routes.get('101 1.2.4.0/24'), 'blackhole 1.2.4.0/24 table 101');
    assert.doesNotMatch(f.internetGateway.firewall, /SNAT|DNAT/);
  });

  it('enforces source/dest check and the instance’s security groups (stateful) at its link', () => {
    const w = world();
    w.instances[1] = { ...w.instances[1]!, sourceDestCheck: true };
    w.securityGroups['sg-nat']!.ingress.push({ protocol: 'tcp', fromPort: 22, toPort: 22, cidrs: [], groupIds: ['sg-nat'] });
    const f = fabric(w).router.firewall;
    const pa = routerPort('i-a');
    const pb = routerPort('i-b');
    assert.match(f, new RegExp(`-A FORWARD -i ${pb} ! -s 10\\.0\\.1\\.4/32 -j DROP`));
    assert.match(f, new RegExp(`-A FORWARD -o ${pb} ! -d 10\\.0\\.1\\.4/32 -j DROP`));
    assert.doesNotMatch(f, new RegExp(`-i ${pa} ! -s 10\\.0\\.0\\.4/32 -j DROP\\n`), 'check off: no rule');
    assert.match(
      f,
      new RegExp(`-A FORWARD -i ${pa} -o igw0 ! -s 10\\.0\\.0\\.4/32 -j DROP`),
      'the gateway translates only its own address',
    );
    assert.ok(f.indexOf('--ctstate ESTABLISHED,RELATED') < f.indexOf(`-A FORWARD -o ${pa} -j sg-in-${pa}`));
    assert.match(f, new RegExp(`-A sg-in-${pa} -s 10\\.0\\.0\\.0/16 {2}-j ACCEPT`));
    assert.match(
      f,
      new RegExp(`-A sg-in-${pa} -s 10\\.0\\.1\\.4/32 -p tcp -m tcp --dport 22:22 -j ACCEPT`),
      'a group reference: its members',
    );
    assert.match(f, new RegExp(`-A sg-out-${pa} -j DROP`), 'no egress rule: nothing out');
  });

  it('puts the test targets, heartbeat addresses, heartbeat names and the API on the internet', () => {
    assert.deepEqual(internetTargets(zones, 'r-1'), [
      { address: '198.51.100.80', names: [], role: 'test' },
      { address: '203.0.113.80', names: [], role: 'test' },
      { address: '8.8.4.4', names: [], role: 'heartbeat-via-peer' },
      { address: '8.8.8.8', names: [], role: 'heartbeat-via-peer' },
      { address: '198.51.100.101', names: ['google.co.jp'], role: 'heartbeat-via-internet-gateway' },
      { address: '203.0.113.10', names: ['ec2.r-1.amazonaws.com'], role: 'ec2-api' },
    ]);
    assert.match(fabric(world()).hosts, /^198\.51\.100\.101 google\.co\.jp$/m);
  });
});

describe('lab services: a unit file read as systemd reads it', () => {
  it('takes ExecStart, Environment, EnvironmentFile, Restart and RestartSec from [Service]', () => {
    const unit = parseUnit(
      'agent.service',
      `[Unit]
Description=x
ExecStart=/not/this

[Service]
Environment=A=1 "B=two words"
EnvironmentFile=-/etc/agent.env
ExecStart=-/usr/local/bin/agent --config "/etc/agent config.json" \\
  --verbose
Restart=always
RestartSec=2
`,
    );
    assert.deepEqual(unit, {
      name: 'agent.service',
      execStart: ['/usr/local/bin/agent', '--config', '/etc/agent config.json', '--verbose'],
      environment: { A: '1', B: 'two words' },
      environmentFiles: [{ path: '/etc/agent.env', optional: true }],
      restart: 'always',
      restartSec: 2,
    });
    assert.equal(parseUnit('x', '[Service]\nExecStart=/x\nRestartSec=250ms\nRestart=on-abnormal\n').restartSec, 0.25);
    assert.equal(parseUnit('x', '[Service]\nExecStart=/x\n').restart, 'no');
  });
});
