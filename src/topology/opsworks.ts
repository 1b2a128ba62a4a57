// NAT instances managed through AWS OpsWorks, as the original built them: a stack in the VPC, an
// "Admin Server" and a "NAT Server" custom layer, an admin instance (created, not started) and one
// NAT instance per zone, IAM user permissions, and the stack's custom JSON that the vpcnat Chef
// cookbook reads — then a deployment that runs vpcnat on the NATs with it.
//
// The original's chicken-and-egg falls out of the references: the custom JSON names the NATs' EC2
// ids (known once the instances are online), the routes name them too, and the deployment runs
// only once the stack holds the new custom JSON.

import { stackMark } from '../aws/opsworks-snapshot.js';
import type { Desired } from '../planner/resource.js';
import { ref, type Value } from '../planner/values.js';
import type { OpsWorksCustomJsonProps } from '../resources/opsworks-custom-json.js';
import type { OpsWorksDeploymentProps } from '../resources/opsworks-deployment.js';
import { instanceId, type OpsWorksInstanceProps } from '../resources/opsworks-instance.js';
import { layerId, type OpsWorksLayerProps } from '../resources/opsworks-layer.js';
import { permissionId, type OpsWorksPermissionProps } from '../resources/opsworks-permission.js';
import type { OpsWorksSecurityGroupProps } from '../resources/opsworks-security-group.js';
import type { OpsWorksStackProps } from '../resources/opsworks-stack.js';
import type { Spec } from '../spec/types.js';
import { desired, networkIds, type NatOutputs } from './network.js';
import { natRing } from './ring.js';

/** The groups OpsWorks makes in the stack's VPC; custom layers' instances use the first. */
export const OPSWORKS_GROUPS = ['AWS-OpsWorks-Custom-Server', 'AWS-OpsWorks-Default-Server'];

export const opsworksIds = {
  stack: 'opsworks/stack',
  securityGroup: (name: string) => `opsworks/security-group/${name}`,
  adminLayer: layerId('admin'),
  natLayer: layerId('nat'),
  admin: instanceId('admin'),
  nat: (az: string) => instanceId(`nat-${az}`),
  customJson: 'opsworks/custom-json',
  deployment: 'opsworks/deployment',
};
const ids = opsworksIds;

export function opsworksNats(spec: Spec): { resources: Desired[]; outputs: NatOutputs } {
  const ops = spec.opsworks!;
  const firstZone = spec.zones[0]!.availabilityZone;
  const stackId = ref(ids.stack);
  const opsworksGroup = ref(ids.securityGroup(OPSWORKS_GROUPS[0]!));
  const keyName = spec.nat.keyName ? { sshKeyName: spec.nat.keyName } : {};
  const customJson = vpcnatCustomJson(spec);

  const resources: Desired[] = [
    desired<OpsWorksStackProps>(ids.stack, 'opsworks-stack', {
      name: spec.name,
      region: spec.region,
      vpcId: ref(networkIds.vpc),
      defaultSubnetId: ref(networkIds.subnet('private', firstZone)),
      serviceRoleArn: ops.serviceRoleArn,
      defaultInstanceProfileArn: ops.defaultInstanceProfileArn,
      defaultOs: ops.defaultOs,
      defaultRootDeviceType: ops.defaultRootDeviceType,
      ...(spec.nat.keyName ? { defaultSshKeyName: spec.nat.keyName } : {}),
      configurationManager: { name: 'Chef', version: ops.chef.version },
      chefConfiguration: { manageBerkshelf: ops.chef.manageBerkshelf, berkshelfVersion: ops.chef.berkshelfVersion },
      customCookbooksSource: { type: 'git', url: ops.customCookbooks.url, revision: ops.customCookbooks.revision },
    }),
    ...OPSWORKS_GROUPS.map((groupName) =>
      desired<OpsWorksSecurityGroupProps>(ids.securityGroup(groupName), 'opsworks-security-group', {
        vpcId: ref(networkIds.vpc),
        groupName,
        stackId,
      }),
    ),
    desired<OpsWorksLayerProps>(ids.adminLayer, 'opsworks-layer', {
      stackId,
      name: 'Admin Server',
      shortname: 'admin',
      packages: ops.layers.admin.packages,
      setupRecipes: ['timezone'],
      autoAssignElasticIps: true,
      autoAssignPublicIps: false,
      customSecurityGroupIds: [],
      enableAutoHealing: false,
    }),
    desired<OpsWorksLayerProps>(ids.natLayer, 'opsworks-layer', {
      stackId,
      name: 'NAT Server',
      shortname: 'nat',
      packages: ops.layers.nat.packages,
      setupRecipes: ['timezone', 'vpcnat'],
      autoAssignElasticIps: false,
      autoAssignPublicIps: true,
      customSecurityGroupIds: [ref(networkIds.natSecurityGroup)],
      enableAutoHealing: false,
    }),
    desired<OpsWorksInstanceProps>(ids.admin, 'opsworks-instance', {
      stackId,
      layerIds: [ref(ids.adminLayer)],
      hostname: 'admin',
      instanceType: ops.admin.instanceType,
      os: ops.layers.admin.os,
      subnetId: ref(networkIds.subnet('public', firstZone)),
      rootDeviceType: ops.defaultRootDeviceType,
      ...keyName,
      running: ops.admin.start,
      securityGroupIds: [opsworksGroup],
    }),
    ...spec.zones.map(({ availabilityZone: az }) =>
      desired<OpsWorksInstanceProps>(ids.nat(az), 'opsworks-instance', {
        stackId,
        layerIds: [ref(ids.natLayer)],
        hostname: `nat-${az}`,
        instanceType: spec.nat.instanceType,
        os: ops.layers.nat.os,
        subnetId: ref(networkIds.subnet('public', az)),
        rootDeviceType: ops.defaultRootDeviceType,
        ...keyName,
        running: true,
        securityGroupIds: [opsworksGroup, ref(networkIds.natSecurityGroup)],
        sourceDestCheck: false,
      }),
    ),
    desired<OpsWorksCustomJsonProps>(ids.customJson, 'opsworks-custom-json', { stackId, customJson }),
    desired<OpsWorksDeploymentProps>(ids.deployment, 'opsworks-deployment', {
      stackId,
      instanceIds: spec.zones.map((z) => ref(ids.nat(z.availabilityZone))),
      recipes: ['vpcnat'],
      customJson,
      customJsonId: ref(ids.customJson),
    }),
    ...ops.permissions.map((p) =>
      desired<OpsWorksPermissionProps>(permissionId(p.iamUserArn), 'opsworks-permission', {
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
      instanceId: (az) => ref(ids.nat(az), 'ec2InstanceId'),
      runningId: (az) => ref(ids.nat(az), 'runningId', { optional: true }),
    },
  };
}

/**
 * The custom JSON in exactly the shape the vpcnat cookbook reads: per zone, which address to ping
 * through the peer, which through the internet gateway, and the peer (the next zone of the ring):
 * its NAT's EC2 id and its private route table, which this zone's NAT takes over when the peer fails.
 */
export function vpcnatCustomJson(spec: Spec): Value {
  const az = Object.fromEntries(
    natRing(spec.zones).map(({ zone, peer }) => [
      zone.availabilityZone,
      {
        enabled: 1,
        target_via_checking_nat: zone.heartbeat.viaPeer,
        target_via_inetgw: zone.heartbeat.viaInternetGateway,
        opposite_primary_nat_id: ref(ids.nat(peer.availabilityZone), 'ec2InstanceId'),
        opposite_rtb: ref(networkIds.routeTable('private', peer.availabilityZone)),
      },
    ]),
  );
  const awscli = { region: spec.region, ...(spec.opsworks!.awscliVersion ? { version: spec.opsworks!.awscliVersion } : {}) };
  // The stack's mark stays beside what the cookbook reads (see opsworks-stack.ts).
  return { vpcnat: { ipmasq_src: spec.vpc.cidr, az }, awscli, ...stackMark(spec.name) };
}
