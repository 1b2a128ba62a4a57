// An OpsWorks instance: the admin instance (created, not started, as the original) or a zone's NAT.
// Found by hostname (nat-ap-northeast-1c; a replacement gets nat-ap-northeast-1c-r2, since
// hostnames are unique in a stack and the new instance exists before the old one goes).
//
// Its condition is read with it, from OpsWorks and from its EC2 instance: it is ready when online
// with its EC2 instance running (its setup ran the vpcnat recipes; this mode has no failover agent,
// so no watcher's word stands behind it). One whose start or setup failed, that lost its
// connection, whose EC2 instance is gone, or that fails its status checks is replaced — launched
// first, then everything naming its EC2 id (routes, the custom JSON) follows in the same apply,
// then the old one is stopped and deleted. Whether it should run is the spec's (an attribute): a
// stopped NAT is started again, the admin instance kept stopped. Create waits until the instance
// is online: only then does it have an EC2 id to route to.

import type { Instance } from '@aws-sdk/client-opsworks';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { pollUntil } from '../aws/wait.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import {
  desired,
  type AttributeChange,
  type ChangeOf,
  type Condition,
  type Observed,
  type Outputs,
  type ResourceKind,
} from '../planner/resource.js';
import type { Known, Ref } from '../planner/values.js';
import { gatewaysHeldBy, instanceGroupIds } from '../aws/instance-groups.js';

export type OpsWorksInstanceProps = {
  stackId: Ref;
  layerIds: Ref[];
  /** The hostname; a replacement adds -r2, -r3, … */
  hostname: string;
  instanceType: string;
  os: string;
  subnetId: Ref;
  rootDeviceType: string;
  sshKeyName?: string;
  /** Keep it running (NATs), or keep it stopped (the admin instance unless the spec starts it). */
  running: boolean;
  /** The EC2 groups its instance must have: OpsWorks's own and the layers' (it is started only once they exist). */
  securityGroupIds: Ref[];
  /** NATs: false. Absent: not managed. */
  sourceDestCheck?: boolean;
};

export interface OpsWorksInstanceState {
  status: string;
  /** Its public address now, as OpsWorks reports it; shown, never compared. */
  publicIp: string | undefined;
  hostname: string;
  /** EC2 instance state; undefined when it has none (never started) or it is gone. */
  ec2State: string | undefined;
  impaired: boolean;
  stackId: string;
  layerIds: string[];
  instanceType: string;
  os: string;
  subnetId: string;
  rootDeviceType: string;
  sshKeyName: string | undefined;
  /** Of its EC2 instance, when it has one. */
  securityGroupIds: string[] | undefined;
  sourceDestCheck: boolean | undefined;
}

/** OpsWorks statuses on the way to online (or there): nothing to do but wait. */
const COMING_UP = new Set(['requested', 'pending', 'booting', 'running_setup', 'online', 'rebooting']);
const STOPPED = new Set(['stopped', 'stopping', 'stop_failed']);
/** Statuses that mean the instance will not serve without being replaced. */
const BROKEN = new Set(['start_failed', 'setup_failed', 'connection_lost', 'terminating', 'terminated', 'shutting_down']);
const EC2_GONE = new Set([undefined, 'shutting-down', 'terminated']);

/**
 * "opsworks/instance/nat-ap-northeast-1c": an instance is named by its hostname, without the -rN a
 * replacement adds (see baseHostname), which is what observe finds it by.
 */
const ids = idScheme('opsworks/instance', ['hostname']);

export const opsworksInstance = {
  kind: 'opsworks-instance',
  ids,
  permissions: [
    'ec2:ModifyInstanceAttribute',
    'opsworks:CreateInstance',
    'opsworks:DeleteInstance',
    'opsworks:DescribeInstances',
    'opsworks:StartInstance',
    'opsworks:StopInstance',
  ],
  desire: (props: OpsWorksInstanceProps) => desired('opsworks-instance', ids.id({ hostname: props.hostname }), props),

  async observe(ctx) {
    const [instances, impaired, gateways] = await Promise.all([
      ctx.opsworksSnapshot.instances(),
      ctx.snapshot.impairedInstanceIds(),
      ctx.snapshot.internetGateways(),
    ]);
    const ec2 = new Map(
      (await ctx.snapshot.instancesByIds(instances.flatMap((i) => i.Ec2InstanceId ?? []))).map((e) => [e.InstanceId!, e]),
    );
    return instances.map((i): Observed<OpsWorksInstanceState, 'opsworks-instance'> => {
      const e = i.Ec2InstanceId ? ec2.get(i.Ec2InstanceId) : undefined;
      const state: OpsWorksInstanceState = {
        status: i.Status ?? 'unknown',
        publicIp: i.PublicIp,
        hostname: i.Hostname!,
        ec2State: e?.State?.Name,
        impaired: i.Ec2InstanceId !== undefined && impaired.has(i.Ec2InstanceId),
        stackId: i.StackId!,
        layerIds: [...(i.LayerIds ?? [])].sort(),
        instanceType: i.InstanceType ?? '',
        os: i.Os ?? '',
        subnetId: i.SubnetId ?? '',
        rootDeviceType: i.RootDeviceType ?? '',
        sshKeyName: i.SshKeyName,
        securityGroupIds: e ? instanceGroupIds(e).sort() : undefined,
        sourceDestCheck: e?.SourceDestCheck,
      };
      return {
        // A replacement's -rN is not part of the id: replacements and what they replace claim it together.
        id: ids.id({ hostname: baseHostname(i.Hostname!) }),
        kind: 'opsworks-instance',
        physicalId: i.InstanceId!,
        outputs: outputsOf(i, state.ec2State),
        // Its EC2 instance's public address keeps the gateway attached: the gateway goes only once it has.
        references: [
          i.StackId!,
          ...(i.LayerIds ?? []),
          ...(i.SubnetId ? [i.SubnetId] : []),
          ...(state.securityGroupIds ?? []),
          ...(e ? gatewaysHeldBy(e, gateways) : []),
        ],
        // Routes and the custom JSON name its EC2 instance: they must move off it before it goes.
        ...(i.Ec2InstanceId ? { alsoKnownAs: [i.Ec2InstanceId] } : {}),
        owned: true,
        // Of several claiming one hostname (a replacement interrupted halfway), the planner keeps the
        // healthiest; then the one routes use, then the oldest.
        health: healthRank(state),
        condition: conditionOf(state),
        ...(i.CreatedAt && !Number.isNaN(Date.parse(i.CreatedAt)) ? { createdAt: Date.parse(i.CreatedAt) } : {}),
        state,
      };
    });
  },

  diff(desired, observed) {
    const { state } = observed;
    const hasEc2 = !EC2_GONE.has(state.ec2State);
    const changes: ChangeOf<OpsWorksInstanceProps, OpsWorksInstanceState>[] = [...health(desired.running, state)];
    changes.push(
      ...compareAttributes({ ...desired, layerIds: [...desired.layerIds].sort() }, state, {
        stackId: { forcesReplacement: true },
        layerIds: { forcesReplacement: true },
        instanceType: { forcesReplacement: true },
        os: { forcesReplacement: true },
        subnetId: { forcesReplacement: true },
        rootDeviceType: { forcesReplacement: true },
        sshKeyName: { forcesReplacement: true },
      }),
    );
    // The EC2 side is compared only while there is one to change.
    if (hasEc2 && state.ec2State === 'running') {
      changes.push(
        ...compareAttributes({ ...desired, securityGroupIds: [...desired.securityGroupIds].sort() }, state, {
          securityGroupIds: {},
          ...(desired.sourceDestCheck !== undefined ? { sourceDestCheck: {} } : {}),
        }),
      );
    }
    return changes;
  },

  async preview(desired) {
    const { securityGroupIds: _, ...shown } = desired;
    return shown;
  },

  async create(desired, ctx) {
    const { CreateInstanceCommand } = await import('@aws-sdk/client-opsworks');
    const hostname = await freeHostname(ctx, desired.stackId, desired.hostname);
    const { InstanceId } = await ctx.opsworks.send(
      new CreateInstanceCommand({
        StackId: desired.stackId,
        LayerIds: desired.layerIds,
        Hostname: hostname,
        InstanceType: desired.instanceType,
        Os: desired.os,
        SubnetId: desired.subnetId,
        RootDeviceType: desired.rootDeviceType as 'ebs' | 'instance-store',
        ...(desired.sshKeyName ? { SshKeyName: desired.sshKeyName } : {}),
      }),
    );
    if (!desired.running) return { id: InstanceId! };
    return start(ctx, InstanceId!, desired);
  },

  async update(desired, observed, changes, ctx) {
    const id = observed.physicalId;
    const changed = new Set(changes.map((c) => c.path));
    if (changed.has('status')) {
      if (desired.running) return start(ctx, id, desired, observed.state.status);
      await stop(ctx, id);
      return { id };
    }
    const ec2Id = observed.outputs.ec2InstanceId!;
    if (changed.has('sourceDestCheck')) await setSourceDestCheck(ctx, ec2Id, desired.sourceDestCheck!);
    if (changed.has('securityGroupIds')) {
      const { ModifyInstanceAttributeCommand } = await import('@aws-sdk/client-ec2');
      await ctx.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: ec2Id, Groups: desired.securityGroupIds }));
    }
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const id = observed.physicalId;
    if (observed.state.status !== 'stopped') await stop(ctx, id);
    const { DeleteInstanceCommand } = await import('@aws-sdk/client-opsworks');
    await ignoreNotFound(ctx.opsworks.send(new DeleteInstanceCommand({ InstanceId: id, DeleteElasticIp: true, DeleteVolumes: true })));
  },
} satisfies ResourceKind<'opsworks-instance', OpsWorksInstanceProps, OpsWorksInstanceState, AwsContext>;

function health(running: boolean, state: OpsWorksInstanceState): AttributeChange<'status'>[] {
  const change = (after: string, reason: string, forcesReplacement = false): AttributeChange<'status'>[] => [
    { path: 'status', before: state.status, after, reason, ...(forcesReplacement ? { forcesReplacement } : {}) },
  ];
  if (!running) return STOPPED.has(state.status) ? [] : change('stopped', 'the spec keeps this instance stopped');
  if (STOPPED.has(state.status)) return change('online', 'instance is stopped; it will be started');
  return [];
}

function conditionOf(state: OpsWorksInstanceState): Condition {
  const replace = (reason: string): Condition => ({
    ready: false,
    reason,
    remedy: { action: 'replace', path: 'status', before: state.status, after: 'online', reason },
  });
  if (BROKEN.has(state.status)) return replace(`instance is ${state.status}`);
  if (COMING_UP.has(state.status) && state.status !== 'requested' && EC2_GONE.has(state.ec2State)) {
    return replace('its EC2 instance is gone');
  }
  if (state.impaired) return replace('its EC2 instance fails its status checks');
  if (state.status === 'online') return { ready: true, reason: 'online: its setup ran the vpcnat recipes' };
  if (!COMING_UP.has(state.status)) return { ready: false, reason: `instance is ${state.status}` };
  // Routes and the custom JSON need it online (with an EC2 id): an apply interrupted while it
  // started must wait for it again.
  const reason = `instance is ${state.status}; it will be awaited until online`;
  return { ready: false, reason, remedy: { action: 'wait', path: 'status', before: state.status, after: 'online', reason } };
}

/** Starts it unless it is already on its way up, then waits until it is online. */
async function start(ctx: AwsContext, id: string, desired: Known<OpsWorksInstanceProps>, status = 'stopped'): Promise<Outputs> {
  const { StartInstanceCommand } = await import('@aws-sdk/client-opsworks');
  if (!COMING_UP.has(status)) await ctx.opsworks.send(new StartInstanceCommand({ InstanceId: id }));
  const online = await waitFor(ctx, id, 'online');
  if (desired.sourceDestCheck !== undefined) await setSourceDestCheck(ctx, online.Ec2InstanceId!, desired.sourceDestCheck);
  return outputsOf(online, 'running');
}

async function stop(ctx: AwsContext, id: string): Promise<void> {
  const { StopInstanceCommand } = await import('@aws-sdk/client-opsworks');
  await ctx.opsworks.send(new StopInstanceCommand({ InstanceId: id }));
  await waitFor(ctx, id, 'stopped');
}

async function waitFor(ctx: AwsContext, id: string, status: 'online' | 'stopped'): Promise<Instance> {
  const { DescribeInstancesCommand } = await import('@aws-sdk/client-opsworks');
  return pollUntil(
    { what: `OpsWorks instance ${id} to be ${status}`, intervalMs: ctx.pollIntervalMs, timeoutSeconds: ctx.instanceWaitSeconds },
    async () => (await ctx.opsworks.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Instances![0]!,
    (i) => {
      if (i.Status === status) return 'done';
      if (status === 'online' && BROKEN.has(i.Status ?? ''))
        return { failed: `OpsWorks instance ${i.Hostname} (${id}) went to ${i.Status}` };
      return 'waiting';
    },
  );
}

async function setSourceDestCheck(ctx: AwsContext, ec2Id: string, value: boolean) {
  const { ModifyInstanceAttributeCommand } = await import('@aws-sdk/client-ec2');
  await ctx.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: ec2Id, SourceDestCheck: { Value: value } }));
}

/** `runningId` is set only while the NAT can carry traffic: routes may stay pointed at it. */
function outputsOf(i: Instance, ec2State: string | undefined): Outputs {
  const serving = COMING_UP.has(i.Status ?? '') && (ec2State === 'running' || ec2State === 'pending');
  return {
    id: i.InstanceId!,
    ...(i.Ec2InstanceId ? { ec2InstanceId: i.Ec2InstanceId } : {}),
    ...(serving && i.Ec2InstanceId ? { runningId: i.Ec2InstanceId } : {}),
  };
}

const REPLACEMENT = /-r(\d+)$/;

function baseHostname(hostname: string): string {
  return hostname.replace(REPLACEMENT, '');
}

// The base name if free, else the next -rN: the instance it replaces still holds the base name.
async function freeHostname(ctx: AwsContext, stackId: string, base: string): Promise<string> {
  const { DescribeInstancesCommand } = await import('@aws-sdk/client-opsworks');
  const taken = new Set(
    ((await ctx.opsworks.send(new DescribeInstancesCommand({ StackId: stackId }))).Instances ?? []).map((i) => i.Hostname),
  );
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-r${n}`)) return `${base}-r${n}`;
}

const PREFERENCE = ['online', 'running_setup', 'booting', 'pending', 'requested', 'rebooting', 'stopping', 'stopped', 'stop_failed'];

function healthRank(state: OpsWorksInstanceState): number {
  const r = PREFERENCE.indexOf(state.status);
  return (r < 0 ? PREFERENCE.length : r) * 2 + (state.impaired || (state.status === 'online' && EC2_GONE.has(state.ec2State)) ? 1 : 0);
}
