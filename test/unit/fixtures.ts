// Small fixtures shared by the planner unit tests: a fake resource kind backed by an in-memory
// world, a helper to write Observed records by hand, and a minimal spec.

import { createHash } from 'node:crypto';
import { compareAttributes, type AttributeRule } from '../../src/planner/diff.js';
import type { Change, Plan } from '../../src/planner/plan.js';
import type { IdScheme } from '../../src/planner/identity.js';
import {
  desired as desiredOf,
  type Desired,
  type Observed,
  type Outputs,
  type ResourceKind,
  type SomeKind,
} from '../../src/planner/resource.js';
import { resolve, type Props, type Ref } from '../../src/planner/values.js';
import type { Spec } from '../../src/spec/types.js';
import { withDefaults } from '../../src/spec/defaults.js';
import { natCondition, type NatInstanceState } from '../../src/resources/nat-instance.js';
import type { AwsContext } from '../../src/aws/context.js';
import type { InstanceTypeInfo } from '@aws-sdk/client-ec2';

/** What the fake kinds did, in order, and what they hold. */
export class World {
  readonly log: string[] = [];
  /** physical id -> the props it was made or last updated with. */
  readonly items = new Map<string, Record<string, unknown>>();
  /** Logical ids whose create/update fails, physical ids whose delete fails. */
  readonly failing = new Set<string>();
  /** Logical ids `preview` was asked about. */
  readonly previewed: string[] = [];
  private counter = 0;

  nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${this.counter}`;
  }
}

export interface FakeCtx {
  world: World;
}

export interface FakeKindOptions {
  /** Attributes whose change forces replacement. */
  forceNew?: readonly string[];
  /** Extra outputs of a made resource, from its physical id (e.g. a NAT's runningId). */
  outputs?: (physicalId: string) => Partial<Outputs>;
  /** Give the kind a `preview` that records its calls and adds `previewed: true`. */
  withPreview?: boolean;
  /** How long create/update/delete take. */
  delayMs?: number;
}

// The tests name the fake kinds' resources freely ("net", "box"): every id is theirs.
const anyId: IdScheme<{ id: string }> = { namespace: '', id: (key) => key.id, parse: (id) => ({ id }) };

/**
 * A kind whose props are plain attributes compared one to one with the observed state (its diff is
 * compareAttributes over every desired prop).
 */
export function fakeKind(kind: string, options: FakeKindOptions = {}): ResourceKind<string, Props, Record<string, unknown>, FakeCtx> {
  const pause = () => new Promise((r) => setTimeout(r, options.delayMs ?? 0));
  const rulesFor = (props: object): Record<string, AttributeRule> =>
    Object.fromEntries(Object.keys(props).map((k) => [k, options.forceNew?.includes(k) ? { forcesReplacement: true } : {}]));
  const made = (physicalId: string): Outputs => ({ id: physicalId, ...options.outputs?.(physicalId) }) as Outputs;
  return {
    kind,
    ids: anyId,
    permissions: [], // it calls nothing: its world is in memory
    desire: (id: string, props: Props) => desiredOf(kind, id, props),
    async observe() {
      return [];
    },
    diff(desired, observed) {
      return compareAttributes(desired, observed.state, rulesFor(desired));
    },
    ...(options.withPreview
      ? {
          async preview(desired: Record<string, unknown>, ctx: FakeCtx) {
            ctx.world.previewed.push(String(desired.name ?? '?'));
            return { ...desired, previewed: true };
          },
        }
      : {}),
    async create(desired, ctx) {
      ctx.world.log.push(`create ${ctx.resourceId}`);
      await pause();
      if (ctx.world.failing.has(ctx.resourceId)) throw new Error(`cannot create ${ctx.resourceId}`);
      const physicalId = ctx.world.nextId(kind);
      ctx.world.items.set(physicalId, { ...desired, $resourceId: ctx.resourceId, $replacing: ctx.replacing });
      return made(physicalId);
    },
    async update(desired, observed, changes, ctx) {
      ctx.world.log.push(`update ${observed.id} ${changes.map((c) => c.path).join(',')}`);
      await pause();
      if (ctx.world.failing.has(observed.id)) throw new Error(`cannot update ${observed.id}`);
      ctx.world.items.set(observed.physicalId, { ...desired });
      return observed.outputs;
    },
    async delete(observed, ctx) {
      ctx.world.log.push(`delete ${observed.physicalId}`);
      await pause();
      if (ctx.world.failing.has(observed.physicalId)) throw new Error(`cannot delete ${observed.physicalId}`);
      ctx.world.items.delete(observed.physicalId);
    },
  };
}

export function kindsOf(...kinds: SomeKind<FakeCtx>[]): ReadonlyMap<string, SomeKind<FakeCtx>> {
  return new Map(kinds.map((k) => [k.kind, k]));
}

/** An observed resource; outputs default to `{ id: physicalId }`, owned to true. */
export function observed<S, N extends string>(
  id: string,
  kind: N,
  physicalId: string,
  state: S,
  extra: Partial<Pick<Observed<S>, 'outputs' | 'references' | 'owned' | 'note' | 'claim' | 'condition' | 'gone'>> = {},
): Observed<S, N> {
  return {
    id,
    kind,
    physicalId,
    outputs: extra.outputs ?? { id: physicalId },
    references: extra.references ?? [],
    owned: extra.owned ?? true,
    ...(extra.note ? { note: extra.note } : {}),
    ...(extra.claim ? { claim: extra.claim } : {}),
    ...(extra.condition ? { condition: extra.condition } : {}),
    ...(extra.gone ? { gone: extra.gone } : {}),
    state,
  };
}

export function desired(id: string, kind: string, props: Props): Desired {
  return { id, kind, props };
}

/** The change for `id`, failing the test when the plan has none. */
export function changeOf(plan: Plan, id: string): Change {
  const found = plan.changes.find((c) => c.id === id);
  if (!found) throw new Error(`the plan has no change for ${id}; it has ${plan.changes.map((c) => c.id).join(', ')}`);
  return found;
}

/** `{ id: action }` for every change, to compare a whole plan at once. */
export function actions(plan: Plan): Record<string, string> {
  return Object.fromEntries(plan.changes.map((c) => [c.id, c.action]));
}

export const ZONE_LETTERS = ['a', 'c', 'd'] as const;

/** A valid spec with `zones` zones in ap-northeast-1 (a, c, d), VPC 10.0.0.0/16. */
export function makeSpec(zones: 2 | 3, nat: Partial<Spec['nat']> = {}): Spec {
  return {
    name: 'test-stack',
    region: 'ap-northeast-1',
    vpc: { name: 'TestVPC', cidr: '10.0.0.0/16' },
    zones: ZONE_LETTERS.slice(0, zones).map((letter, i) => ({
      availabilityZone: `ap-northeast-1${letter}`,
      publicSubnet: `10.0.${i}.0/24`,
      privateSubnet: `10.0.${128 + i}.0/24`,
      heartbeat: { viaPeer: `8.8.${i}.8`, viaInternetGateway: 'google.co.jp' },
    })),
    nat: { manager: 'ec2', instanceType: 't3.micro', ...nat },
  };
}

// ---- A whole observed stack, as the real kinds would observe it --------------------------------

const IAM_NAME = 'test-stack-ap-northeast-1-nat';

/** The physical id this fixture gives each logical id of the topology. */
export function physicalIdOf(logicalId: string): string {
  const parts = logicalId.split('/');
  switch (parts[0]) {
    case 'vpc':
      return 'vpc-1';
    case 'internet-gateway':
      return 'igw-1';
    case 'security-group':
      return `sg-${parts[1]}`;
    case 'subnet':
      return `subnet-${parts[1]}-${parts[2]}`;
    case 'route-table':
      return `rtb-${parts[1]}-${parts[2]}`;
    case 'nat':
      return `i-${parts[1]}`;
    // IAM's names carry the stack and its region; roles and instance profiles are named by their ARNs.
    case 'iam-role':
      return `arn:aws:iam::123456789012:role/dupsworks/${IAM_NAME}`;
    case 'iam-instance-profile':
      return `arn:aws:iam::123456789012:instance-profile/dupsworks/${IAM_NAME}`;
    case 'iam-role-policy':
      return `${IAM_NAME}:dupsworks-nat`;
    default:
      throw new Error(`fixture: no physical id for ${logicalId}`);
  }
}

/**
 * What observing a healthy, fully built stack for `spec` would return: every resource of
 * `desiredResources(spec)` exactly as desired (tags include the stack's own), running NATs.
 */
export function observedStack(resources: readonly Desired[]): Observed[] {
  const lookup = (r: Ref): string => (r.output === 'name' ? IAM_NAME : physicalIdOf(r.$ref));
  return resources.map((d) => {
    const p = resolve(d.props, lookup) as Record<string, any>;
    const tags = { ...(p.tags ?? {}), 'dupsworks:stack': 'test-stack', 'dupsworks:resource': d.id };
    switch (d.kind) {
      case 'vpc':
        return observed(
          d.id,
          d.kind,
          'vpc-1',
          { cidrBlock: p.cidrBlock, enableDnsSupport: true, enableDnsHostnames: true, tags },
          {
            outputs: { id: 'vpc-1', cidrBlock: p.cidrBlock },
          },
        );
      case 'internet-gateway':
        return observed(d.id, d.kind, 'igw-1', { vpcId: p.vpcId, tags }, { references: [p.vpcId] });
      case 'security-group':
        return observed(
          d.id,
          d.kind,
          physicalIdOf(d.id),
          { vpcId: p.vpcId, groupName: p.groupName, description: p.description, ingress: p.ingress, egress: p.egress, tags },
          { references: [p.vpcId] },
        );
      case 'subnet':
        return observed(
          d.id,
          d.kind,
          physicalIdOf(d.id),
          { vpcId: p.vpcId, cidrBlock: p.cidrBlock, availabilityZone: p.availabilityZone, tags },
          { references: [p.vpcId], claim: `${p.cidrBlock} in ${p.vpcId}` },
        );
      case 'route-table': {
        const id = physicalIdOf(d.id);
        const associations = [{ associationId: `rtbassoc-${id}`, subnetId: p.subnetId }];
        return observed(
          d.id,
          d.kind,
          id,
          { vpcId: p.vpcId, subnetId: p.subnetId, associations, tags },
          { references: [p.vpcId, p.subnetId] },
        );
      }
      case 'nat-instance':
        return natObserved(d.id, {
          state: 'running',
          subnetId: p.subnetId,
          securityGroupIds: p.securityGroupIds,
          instanceType: p.instanceType,
          imageId: p.imageId ?? 'ami-default',
          keyName: p.keyName,
          instanceProfileArn: p.instanceProfileArn,
          sourceDestCheck: p.sourceDestCheck,
          userDataSha256: sha256(p.userData),
          tags: { ...tags, 'dupsworks:user-data-sha256': sha256(p.userData) },
        });
      case 'route': {
        const target = p.gatewayId ?? p.instanceId;
        return routeObserved(d.id, p.routeTableId, p.destinationCidrBlock, target);
      }
      case 'iam-role': {
        const arn = physicalIdOf(d.id);
        const state = {
          roleName: IAM_NAME,
          path: '/dupsworks/',
          arn,
          assumeRolePolicy: p.assumeRolePolicy,
          description: p.description,
          tags,
        };
        return observed(d.id, d.kind, arn, state, { outputs: { id: arn, arn, name: IAM_NAME } });
      }
      case 'iam-role-policy':
        return observed(
          d.id,
          d.kind,
          physicalIdOf(d.id),
          { roleName: p.roleName, policyName: 'dupsworks-nat', policyDocument: p.policyDocument },
          { references: [physicalIdOf('iam-role/nat')] },
        );
      case 'iam-instance-profile': {
        const arn = physicalIdOf(d.id);
        return observed(
          d.id,
          d.kind,
          arn,
          { profileName: IAM_NAME, arn, roleName: p.roleName, tags },
          { outputs: { id: arn, arn, name: IAM_NAME }, references: [physicalIdOf('iam-role/nat')] },
        );
      }
      default:
        throw new Error(`fixture: unknown kind ${d.kind}`);
    }
  });
}

/** What nat-instance.ts observes of an instance. */
export type NatStateFixture = NatInstanceState;

/** A NAT instance as nat-instance.ts observes it (outputs and references follow its state). */
export function natObserved(
  id: string,
  state: Partial<NatStateFixture>,
  physicalId = physicalIdOf(id),
): Observed<NatStateFixture, 'nat-instance'> {
  const full: NatStateFixture = {
    state: 'running',
    impaired: false,
    publicIp: undefined,
    subnetId: undefined,
    securityGroupIds: [],
    instanceType: 't3.micro',
    imageId: 'ami-default',
    keyName: undefined,
    instanceProfileArn: undefined,
    sourceDestCheck: false,
    userDataSha256: undefined,
    tags: {},
    ...state,
  };
  const dead = full.state === 'terminated' || full.state === 'shutting-down';
  const runs = full.state === 'running' || full.state === 'pending';
  return observed(id, 'nat-instance', physicalId, full, {
    outputs: { id: physicalId, ...(runs ? { runningId: physicalId } : {}) },
    references: dead ? [] : [full.subnetId, ...full.securityGroupIds, full.instanceProfileArn].filter((x): x is string => !!x),
    owned: !dead,
    condition: natCondition(full, physicalId, 0),
    ...(full.state === 'terminated' ? { gone: `${physicalId} is terminated` } : {}),
  });
}

export interface RouteStateFixture {
  routeTableId: string;
  destinationCidrBlock: string;
  target: string | undefined;
  state: string;
}

/** A route as route.ts observes it. */
export function routeObserved(
  id: string,
  routeTableId: string,
  destinationCidrBlock: string,
  target: string | undefined,
  state = 'active',
): Observed<RouteStateFixture, 'route'> {
  const physicalId = `${routeTableId}:${destinationCidrBlock}`;
  return observed(
    id,
    'route',
    physicalId,
    { routeTableId, destinationCidrBlock, target, state },
    { references: [routeTableId, ...(target ? [target] : [])] },
  );
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * A context that answers only what a plan's previews look up: the default image (`ami-latest`) for
 * instance types that all run x86_64.
 */
export function previewContext(): AwsContext {
  const x86 = (name: string): [string, InstanceTypeInfo] => [name, { ProcessorInfo: { SupportedArchitectures: ['x86_64'] } }];
  return {
    snapshot: { parameter: async () => 'ami-latest', instanceTypes: async (names: string[]) => new Map(names.map(x86)) },
  } as unknown as AwsContext;
}

/** A two-zone spec whose NATs OpsWorks manages, with the example's OpsWorks settings. */
export function opsworksSpec(): Spec {
  return withDefaults({
    ...makeSpec(2, { manager: 'opsworks', instanceType: 't2.micro' }),
    opsworks: {
      serviceRoleArn: 'arn:aws:iam::123456789012:role/aws-opsworks-service-role',
      defaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
      customCookbooks: { url: 'https://github.com/example/dupsworks-cookbooks.git', revision: 'master' },
      permissions: [{ iamUserArn: 'arn:aws:iam::123456789012:user/alice', allowSsh: true, allowSudo: true, level: 'manage' }],
    },
  });
}
