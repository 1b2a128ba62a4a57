// A NAT instance: an EC2 instance in a public subnet, with a public IP, source/destination check
// off, and user data that turns it into a NAT.
//
// Its condition is read with it, apart from its attributes: it is ready when it runs, its
// source/destination check is off and its watcher (the previous zone's NAT, whose failover agent
// probes through it) has tagged it dupsworks:health=ok since it was launched; the agent's word is
// the only proof that it forwards. A stopped NAT's remedy is a start; one shutting down or failing
// its status checks is replaced. A terminated one is gone (EC2 lists it for a while): the plan
// launches a NAT anew, saying which one it follows. Replacement launches the new one first; the
// planner then re-points every route that used the old one before terminating it. A replacement
// because the spec changed is a rollout step, gated on the new NAT's readiness.

import { createHash } from 'node:crypto';
import type { Instance, InstanceTypeInfo, RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { DupsworksError } from '../errors.js';
import { errorCode } from '../aws/retry.js';
import { logicalIdOf, tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import {
  desired,
  type ChangeOf,
  type Condition,
  type CreateContext,
  type Observed,
  type Outputs,
  type Readiness,
  type ResourceKind,
} from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { applyTags } from './tagging.js';
import { gatewaysHeldBy, instanceGroupIds } from '../aws/instance-groups.js';
import { AGENT_TAGS } from '../nat/tags.js';
import { encodeUserData } from '../nat/user-data.js';

/**
 * The public SSM parameters naming the latest Amazon Linux 2023 AMI of each architecture it is
 * built for: the default image is the one for the instance type's architecture (a t4g runs arm64).
 */
export const DEFAULT_IMAGE_PARAMETERS = {
  x86_64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  arm64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
} as const;

export type ImageArchitecture = keyof typeof DEFAULT_IMAGE_PARAMETERS;

/**
 * The architecture of the default image for an instance type, from EC2's data on it; undefined
 * when Amazon Linux 2023 has no image for any architecture it runs (a Mac instance, say).
 */
export function imageArchitecture(type: InstanceTypeInfo): ImageArchitecture | undefined {
  const supported = type.ProcessorInfo?.SupportedArchitectures ?? [];
  return (Object.keys(DEFAULT_IMAGE_PARAMETERS) as ImageArchitecture[]).find((arch) => supported.includes(arch));
}

/** The user data is not readable in a batched Describe; its hash travels in a tag instead. */
export const USER_DATA_TAG = 'dupsworks:user-data-sha256';

export type NatInstanceProps = {
  subnetId: Ref;
  securityGroupIds: Ref[];
  instanceType: string;
  /** Absent: the latest Amazon Linux 2023 AMI when launched (a newer one alone never replaces a NAT). */
  imageId?: string;
  userData: string;
  keyName?: string;
  instanceProfileArn?: Ref | string;
  sourceDestCheck: boolean;
  tags: Record<string, string>;
};

export interface NatInstanceState {
  /** pending | running | stopping | stopped | shutting-down | terminated */
  state: string;
  /** Instance or system status check says "impaired". */
  impaired: boolean;
  /** Its public address now (an Elastic IP's while it holds one); shown, never compared. */
  publicIp: string | undefined;
  subnetId: string | undefined;
  securityGroupIds: string[];
  instanceType: string | undefined;
  imageId: string | undefined;
  keyName: string | undefined;
  instanceProfileArn: string | undefined;
  sourceDestCheck: boolean;
  userDataSha256: string | undefined;
  tags: Record<string, string>;
}

const DEAD = new Set(['shutting-down', 'terminated']);

/** "nat/ap-northeast-1c": a zone has one NAT. */
const ids = idScheme('nat', ['availabilityZone']);

export const natInstance = {
  kind: 'nat-instance',
  ids,
  // The waiters poll DescribeInstances. Launching with an instance profile also needs iam:PassRole
  // on its role: `dupsworks iam-policy` adds it when the spec names one.
  permissions: [
    'ec2:CreateTags',
    'ec2:DescribeInstances',
    'ec2:ModifyInstanceAttribute',
    'ec2:RunInstances',
    'ec2:StartInstances',
    'ec2:TerminateInstances',
  ],
  desire: (key: { availabilityZone: string }, props: NatInstanceProps) => desired('nat-instance', ids.id(key), props),

  async observe(ctx) {
    const [instances, impaired, gateways] = await Promise.all([
      ctx.snapshot.instances(),
      ctx.snapshot.impairedInstanceIds(),
      ctx.snapshot.internetGateways(),
    ]);
    const found = withLogicalIds(instances, ctx.stack, ids).map(({ id, item }) =>
      observed(id, item, impaired.has(item.InstanceId!), gatewaysHeldBy(item, gateways)),
    );
    // A terminated one is listed for a while but is gone: it counts only while its zone has no other.
    const live = new Set(found.filter((o) => !DEAD.has(o.state.state)).map((o) => o.id));
    return found.filter((o) => !DEAD.has(o.state.state) || !live.has(o.id));
  },

  diff(desired, observed) {
    const { state } = observed;
    const comparable = { ...desired, userDataSha256: sha256(desired.userData), securityGroupIds: [...desired.securityGroupIds].sort() };
    const changes: ChangeOf<NatInstanceProps, NatInstanceState>[] = [];
    changes.push(
      ...compareAttributes(comparable, state, {
        subnetId: { forcesReplacement: true },
        instanceType: { forcesReplacement: true },
        ...(desired.imageId ? { imageId: { forcesReplacement: true } } : {}),
        keyName: { forcesReplacement: true },
        instanceProfileArn: { forcesReplacement: true },
        userDataSha256: { forcesReplacement: true },
        securityGroupIds: {},
        sourceDestCheck: {},
      }),
      ...compareTags(desired.tags, state.tags),
    );
    return changes;
  },

  readyWhen: 'running, source/destination check off, and its watcher tags it dupsworks:health=ok (its probes through it answer)',

  async readiness(outputs, ctx, since) {
    const { DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
    const out = await ctx.ec2.send(new DescribeInstancesCommand({ InstanceIds: [outputs.id] }));
    const now = out.Reservations?.[0]?.Instances?.[0];
    if (!now) return { ready: false, reason: 'EC2 does not list it' };
    return readinessOf(observed('', now, false, []).state, outputs.id, Math.min(since, now.LaunchTime?.getTime() ?? since));
  },

  async preview(desired, ctx) {
    const { userData, ...shown } = desired;
    // The default image is shown with the architecture it was chosen for.
    const image = desired.imageId ? { imageId: desired.imageId } : await defaultImage(ctx, desired.instanceType);
    return { ...shown, ...image, userDataSha256: sha256(userData) };
  },

  async create(desired, ctx) {
    const imageId =
      desired.imageId ?? (ctx.previewed?.imageId as string | undefined) ?? (await defaultImage(ctx, desired.instanceType)).imageId;
    const input: RunInstancesCommandInput = {
      ImageId: imageId,
      InstanceType: desired.instanceType as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      UserData: encodeUserData(desired.userData),
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: desired.subnetId, AssociatePublicIpAddress: true, Groups: desired.securityGroupIds }],
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      ...(desired.keyName ? { KeyName: desired.keyName } : {}),
      ...(desired.instanceProfileArn ? { IamInstanceProfile: { Arn: desired.instanceProfileArn } } : {}),
      TagSpecifications: [
        ...tagSpecifications('instance', ctx.stack, ctx.resourceId, { ...desired.tags, [USER_DATA_TAG]: sha256(desired.userData) }),
        // Its disk and network interface are made with it: tagged too, so nothing of the stack is anonymous.
        ...tagSpecifications('volume', ctx.stack, ctx.resourceId, desired.tags),
        ...tagSpecifications('network-interface', ctx.stack, ctx.resourceId, desired.tags),
      ],
    };
    let launched = await run(ctx, input, clientToken(ctx.stack, ctx.resourceId, ctx.replacing, input));
    if (!(await isThisNat(ctx, launched.InstanceId!))) {
      // The token matched an earlier launch that has since died, or that is this NAT no more (its
      // tags were removed or changed, so the plan did not see it): launch anew.
      launched = await run(ctx, input, clientToken(ctx.stack, ctx.resourceId, launched.InstanceId, input));
    }
    const instanceId = launched.InstanceId!;
    if (!desired.sourceDestCheck) await setSourceDestCheck(ctx, instanceId, false);
    await waitRunning(ctx, instanceId);
    return outputsOf(instanceId, 'running');
  },

  async update(desired, observed, changes, ctx) {
    const { ModifyInstanceAttributeCommand, StartInstancesCommand } = await import('@aws-sdk/client-ec2');
    const id = observed.physicalId;
    const changed = new Set(changes.map((c) => c.path));
    if (changed.has('state')) await ctx.ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    if (changed.has('sourceDestCheck')) await setSourceDestCheck(ctx, id, desired.sourceDestCheck);
    if (changed.has('securityGroupIds'))
      await ctx.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: desired.securityGroupIds }));
    await applyTags(ctx, id, changes, desired.tags);
    if (changed.has('state')) await waitRunning(ctx, id);
    return outputsOf(id, changed.has('state') ? 'running' : observed.state.state);
  },

  async delete(observed, ctx) {
    const id = observed.physicalId;
    if (observed.state.state === 'terminated') return;
    const { TerminateInstancesCommand, waitUntilInstanceTerminated } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    // What the instance sits in (subnet, security group) can only go once it is gone.
    await waitUntilInstanceTerminated(
      { client: ctx.ec2, maxWaitTime: ctx.instanceWaitSeconds, minDelay: 2, maxDelay: 15 },
      { InstanceIds: [id] },
    );
  },
} satisfies ResourceKind<'nat-instance', NatInstanceProps, NatInstanceState, AwsContext>;

function observed(id: string, i: Instance, impaired: boolean, gateways: string[]): Observed<NatInstanceState, 'nat-instance'> {
  const state = i.State?.Name ?? 'pending';
  const groups = instanceGroupIds(i);
  const tags = tagMap(i.Tags);
  const seen: NatInstanceState = {
    state,
    impaired,
    publicIp: i.PublicIpAddress,
    subnetId: i.SubnetId,
    securityGroupIds: [...groups].sort(),
    instanceType: i.InstanceType,
    imageId: i.ImageId,
    keyName: i.KeyName,
    instanceProfileArn: i.IamInstanceProfile?.Arn,
    sourceDestCheck: i.SourceDestCheck ?? true,
    userDataSha256: tags[USER_DATA_TAG],
    tags,
  };
  return {
    id,
    kind: 'nat-instance',
    physicalId: i.InstanceId!,
    outputs: outputsOf(i.InstanceId!, state),
    // Its public address keeps the gateway attached: the gateway goes only once the NAT has. Its
    // instance profile goes after it too (its agent keeps its role to the end).
    references: DEAD.has(state) ? [] : [i.SubnetId, ...groups, ...gateways, i.IamInstanceProfile?.Arn].filter((x): x is string => !!x),
    // A terminated instance is listed for a while but is already gone: never anything to delete.
    owned: !DEAD.has(state),
    // Of several claiming one zone (a replacement interrupted halfway, a copy launched by hand), the
    // planner keeps the healthiest; then the one routes use, then the oldest.
    health: PREFERENCE.indexOf(state) * 2 + (impaired ? 1 : 0),
    condition: natCondition(seen, i.InstanceId!, i.LaunchTime?.getTime() ?? 0),
    ...(i.LaunchTime ? { createdAt: i.LaunchTime.getTime() } : {}),
    ...(state === 'terminated' ? { gone: `${i.InstanceId} is terminated` } : {}),
    state: seen,
  };
}

const [HEALTH, HEALTH_BY, HEALTH_SINCE] = AGENT_TAGS.instance;

/** A NAT's condition, from what observe reads of it (exported for the tests' stacks). */
export function natCondition(state: NatInstanceState, instanceId: string, launchedAt: number): Condition {
  const remedy = (action: 'start' | 'replace', before: string, reason: string) =>
    ({ action, path: 'state', before, after: 'running', reason }) as const;
  const now = state.state;
  if (DEAD.has(now)) return { ready: false, reason: `instance is ${now}`, remedy: remedy('replace', now, `instance is ${now}`) };
  if (state.impaired) {
    const reason = 'instance fails its status checks';
    return { ready: false, reason, remedy: remedy('replace', 'impaired', reason) };
  }
  if (now === 'stopped' || now === 'stopping') {
    return { ready: false, reason: `instance is ${now}`, remedy: remedy('start', now, 'instance is stopped; it will be started') };
  }
  return readinessOf(state, instanceId, launchedAt);
}

// Only the watcher's word says that it forwards: running with the check off is a NAT that could.
// Its watcher is whichever NAT its heartbeat route sends probes through (the previous zone's);
// a tag written before `since` (its launch) is not about this instance.
function readinessOf(state: NatInstanceState, instanceId: string, since: number): Readiness {
  if (state.state !== 'running') return { ready: false, reason: `instance is ${state.state}` };
  if (state.sourceDestCheck) return { ready: false, reason: 'its source/destination check is on' };
  const [health, by, at] = [state.tags[HEALTH], state.tags[HEALTH_BY], state.tags[HEALTH_SINCE]];
  const when = at === undefined ? NaN : Date.parse(at);
  if (health === undefined || by === undefined || by === instanceId || Number.isNaN(when)) {
    return { ready: false, reason: 'no health tag from its watcher' };
  }
  if (when < Math.floor(since / 1000) * 1000)
    return { ready: false, reason: `its watcher's last health tag (${at}) is older than its launch` };
  if (health === 'ok') return { ready: true, reason: `its watcher ${by} finds it forwarding since ${at}` };
  return { ready: false, reason: `its watcher ${by} finds it ${health} since ${at}` };
}

/** `runningId` is set only while the NAT can carry traffic: routes may stay pointed at it. */
function outputsOf(instanceId: string, state: string): Outputs {
  return { id: instanceId, ...(state === 'running' || state === 'pending' ? { runningId: instanceId } : {}) };
}

const PREFERENCE = ['running', 'pending', 'stopping', 'stopped', 'shutting-down', 'terminated'];

// As it is now: what answers a repeated token is the launch it was first sent for, as it was then.
async function isThisNat(ctx: AwsContext & CreateContext, instanceId: string): Promise<boolean> {
  const { DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');
  const out = await ctx.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const now = out.Reservations?.[0]?.Instances?.[0];
  return !!now && !DEAD.has(now.State?.Name ?? '') && logicalIdOf(now.Tags, ctx.stack) === ctx.resourceId;
}

/** The latest Amazon Linux 2023 AMI for the instance type's architecture. */
async function defaultImage(ctx: AwsContext, instanceType: string): Promise<{ imageId: string; architecture: ImageArchitecture }> {
  const type = (await ctx.snapshot.instanceTypes([instanceType])).get(instanceType);
  const arch = type && imageArchitecture(type);
  // The plan's preflight (src/aws/preflight.ts) says so first, at the spec's field, unless a NAT of
  // this type already runs (on an image given by nat.imageId, then removed).
  if (!arch) {
    throw new DupsworksError(
      'NoDefaultImage',
      'user',
      `instance type ${instanceType} has no Amazon Linux 2023 image; give nat.imageId, or choose an x86_64 or arm64 instance type`,
    );
  }
  return { imageId: await ctx.snapshot.parameter(DEFAULT_IMAGE_PARAMETERS[arch]), architecture: arch };
}

/** How long EC2 may take to see an instance profile IAM has just made. */
const PROFILE_PROPAGATION_MS = 90_000;

async function run(ctx: AwsContext, input: RunInstancesCommandInput, token: string): Promise<Instance> {
  const { RunInstancesCommand } = await import('@aws-sdk/client-ec2');
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await ctx.ec2.send(new RunInstancesCommand({ ...input, ClientToken: token }));
      return out.Instances![0]!;
    } catch (error) {
      // IAM is eventually consistent: EC2 refuses a profile made seconds ago as invalid, for a while.
      const profileNotYetSeen =
        input.IamInstanceProfile !== undefined &&
        errorCode(error) === 'InvalidParameterValue' &&
        /iamInstanceProfile|instance profile/i.test((error as Error).message);
      if (!profileNotYetSeen || Date.now() - started > PROFILE_PROPAGATION_MS) throw error;
      await new Promise((r) => setTimeout(r, Math.min(8000, 1000 * 2 ** (attempt - 1))));
    }
  }
}

// Deterministic, so a re-run after a crash asks AWS for the same launch (real AWS honors it; the
// tags find it otherwise). The hour keeps a token from matching a launch of long ago.
function clientToken(stack: string, resourceId: string, replacing: string | undefined, input: RunInstancesCommandInput): string {
  const hour = new Date().toISOString().slice(0, 13);
  return sha256(JSON.stringify({ stack, resourceId, replacing: replacing ?? null, input, hour })).slice(0, 64);
}

async function setSourceDestCheck(ctx: AwsContext, instanceId: string, value: boolean) {
  const { ModifyInstanceAttributeCommand } = await import('@aws-sdk/client-ec2');
  await ctx.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, SourceDestCheck: { Value: value } }));
}

async function waitRunning(ctx: AwsContext, instanceId: string) {
  const { waitUntilInstanceRunning } = await import('@aws-sdk/client-ec2');
  await waitUntilInstanceRunning(
    { client: ctx.ec2, maxWaitTime: ctx.instanceWaitSeconds, minDelay: 2, maxDelay: 15 },
    { InstanceIds: [instanceId] },
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
