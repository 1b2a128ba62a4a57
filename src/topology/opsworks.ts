// NAT instances managed through AWS OpsWorks, as the original built them: a stack in the VPC, an
// "Admin Server" and a "NAT Server" custom layer, an admin instance (created, not started) and one
// NAT instance per zone, IAM user permissions, and the stack's custom JSON that the vpcnat Chef
// cookbook reads — then a deployment that runs vpcnat on the NATs with it.
//
// The original's chicken-and-egg falls out of the references: the custom JSON names the NATs' EC2
// ids (known once the instances are online), the routes name them too, and the deployment runs
// only once the stack holds the new custom JSON.

import { ref, type Value } from '../planner/values.js';
import type { AnyDesired } from '../resources/index.js';
import { opsworksCustomJson } from '../resources/opsworks-custom-json.js';
import { opsworksDeployment } from '../resources/opsworks-deployment.js';
import { opsworksInstance } from '../resources/opsworks-instance.js';
import { opsworksLayer } from '../resources/opsworks-layer.js';
import { opsworksPermission } from '../resources/opsworks-permission.js';
import { opsworksSecurityGroup } from '../resources/opsworks-security-group.js';
import { opsworksStack, stackMark } from '../resources/opsworks-stack.js';
import type { Spec } from '../spec/types.js';
import type { NatOutputs, Network } from './network.js';
import { natRing } from './ring.js';

/** The groups OpsWorks makes in the stack's VPC; custom layers' instances use the first. */
export const OPSWORKS_GROUPS = ['AWS-OpsWorks-Custom-Server', 'AWS-OpsWorks-Default-Server'];

export function opsworksNats(spec: Spec, net: Network): { resources: AnyDesired[]; outputs: NatOutputs } {
  const ops = spec.opsworks!;
  const firstZone = spec.zones[0]!.availabilityZone;
  const keyName = spec.nat.keyName ? { sshKeyName: spec.nat.keyName } : {};

  const stack = opsworksStack.desire({
    name: spec.name,
    region: spec.region,
    vpcId: ref(net.vpc.id),
    defaultSubnetId: ref(net.zone(firstZone).subnet.private.id),
    serviceRoleArn: ops.serviceRoleArn,
    defaultInstanceProfileArn: ops.defaultInstanceProfileArn,
    defaultOs: ops.defaultOs,
    defaultRootDeviceType: ops.defaultRootDeviceType,
    ...(spec.nat.keyName ? { defaultSshKeyName: spec.nat.keyName } : {}),
    configurationManager: { name: 'Chef', version: ops.chef.version },
    chefConfiguration: { manageBerkshelf: ops.chef.manageBerkshelf, berkshelfVersion: ops.chef.berkshelfVersion },
    customCookbooksSource: { type: 'git', url: ops.customCookbooks.url, revision: ops.customCookbooks.revision },
  });
  const stackId = ref(stack.id);
  const groups = OPSWORKS_GROUPS.map((groupName) => opsworksSecurityGroup.desire({ vpcId: ref(net.vpc.id), groupName, stackId }));
  const opsworksGroup = ref(groups[0]!.id);
  const adminLayer = opsworksLayer.desire({
    stackId,
    name: 'Admin Server',
    shortname: 'admin',
    packages: ops.layers.admin.packages,
    setupRecipes: ['timezone'],
    autoAssignElasticIps: true,
    autoAssignPublicIps: false,
    customSecurityGroupIds: [],
    enableAutoHealing: false,
  });
  const natLayer = opsworksLayer.desire({
    stackId,
    name: 'NAT Server',
    shortname: 'nat',
    packages: ops.layers.nat.packages,
    setupRecipes: ['timezone', 'vpcnat'],
    autoAssignElasticIps: false,
    autoAssignPublicIps: true,
    customSecurityGroupIds: [ref(net.natSecurityGroup.id)],
    enableAutoHealing: false,
  });
  const admin = opsworksInstance.desire({
    stackId,
    layerIds: [ref(adminLayer.id)],
    hostname: 'admin',
    instanceType: ops.admin.instanceType,
    os: ops.layers.admin.os,
    subnetId: ref(net.zone(firstZone).subnet.public.id),
    rootDeviceType: ops.defaultRootDeviceType,
    ...keyName,
    running: ops.admin.start,
    securityGroupIds: [opsworksGroup],
  });
  const nats = new Map(
    spec.zones.map(({ availabilityZone: az }) => {
      const nat = opsworksInstance.desire({
        stackId,
        layerIds: [ref(natLayer.id)],
        hostname: `nat-${az}`,
        instanceType: spec.nat.instanceType,
        os: ops.layers.nat.os,
        subnetId: ref(net.zone(az).subnet.public.id),
        rootDeviceType: ops.defaultRootDeviceType,
        ...keyName,
        running: true,
        securityGroupIds: [opsworksGroup, ref(net.natSecurityGroup.id)],
        sourceDestCheck: false,
      });
      return [az, nat] as const;
    }),
  );
  const ec2IdOf = (az: string) => ref(nats.get(az)!.id, 'ec2InstanceId');
  const customJson = vpcnatCustomJson(spec, ec2IdOf, (az) => ref(net.zone(az).routeTable.private.id));
  const customJsonResource = opsworksCustomJson.desire({ stackId, customJson });

  const resources: AnyDesired[] = [
    stack,
    ...groups,
    adminLayer,
    natLayer,
    admin,
    ...nats.values(),
    customJsonResource,
    opsworksDeployment.desire({
      stackId,
      instanceIds: [...nats.values()].map((nat) => ref(nat.id)),
      recipes: ['vpcnat'],
      customJson,
      customJsonId: ref(customJsonResource.id),
    }),
    ...ops.permissions.map((p) =>
      opsworksPermission.desire({
        stackId,
        iamUserArn: p.iamUserArn,
        allowSsh: p.allowSsh,
        allowSudo: p.allowSudo,
        level: p.level,
      }),
    ),
  ];
  return {
    resources,
    outputs: {
      instanceId: ec2IdOf,
      // No rollout here (a replacement's create waits until it is online, and one custom JSON
      // names every NAT): what serves follows a new NAT as what proves it does.
      servingId: ec2IdOf,
      runningId: (az) => ref(nats.get(az)!.id, 'runningId', { optional: true }),
    },
  };
}

/**
 * The custom JSON in exactly the shape the vpcnat cookbook reads: per zone, which address to ping
 * through the peer, which through the internet gateway, and the peer (the next zone of the ring):
 * its NAT's EC2 id and its private route table, which this zone's NAT takes over when the peer fails.
 */
function vpcnatCustomJson(spec: Spec, natEc2Id: (az: string) => Value, privateTable: (az: string) => Value): Value {
  const az = Object.fromEntries(
    natRing(spec.zones).map(({ zone, peer }) => [
      zone.availabilityZone,
      {
        enabled: 1,
        target_via_checking_nat: zone.heartbeat.viaPeer,
        target_via_inetgw: zone.heartbeat.viaInternetGateway,
        opposite_primary_nat_id: natEc2Id(peer.availabilityZone),
        opposite_rtb: privateTable(peer.availabilityZone),
      },
    ]),
  );
  const awscli = { region: spec.region, ...(spec.opsworks!.awscliVersion ? { version: spec.opsworks!.awscliVersion } : {}) };
  // The stack's mark stays beside what the cookbook reads (see opsworks-stack.ts).
  return { vpcnat: { ipmasq_src: spec.vpc.cidr, az }, awscli, ...stackMark(spec.name) };
}
