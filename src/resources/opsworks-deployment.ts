// Running the vpcnat recipe on the NATs after their custom JSON changed (OpsWorks's
// execute_recipes command). The NATs read the custom JSON only when a recipe runs; their Setup run
// at boot comes before the custom JSON can name them, so a deployment must follow every change.
//
// The last deployment this engine made says, in its comment, the digest of the custom JSON it ran
// with: a different desired digest, other instances, or a failed run mean deploying again.
// Deployments are history: never deleted.

import type { Deployment } from '@aws-sdk/client-opsworks';
import equal from 'fast-deep-equal';
import type { AwsContext } from '../aws/context.js';
import { pollUntil } from '../aws/wait.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ChangeOf, type ResourceKind } from '../planner/resource.js';
import { containsUnknown, firstUnknown, type Ref, type Value } from '../planner/values.js';
import { customJsonDigest, parseCustomJson } from './opsworks-custom-json.js';

export type OpsWorksDeploymentProps = {
  stackId: Ref;
  /** The OpsWorks instances to run on. */
  instanceIds: Ref[];
  recipes: string[];
  /** The custom JSON the recipes must see (the same value as the stack's custom JSON resource). */
  customJson: Value;
  /** The custom JSON resource: the deployment runs only once the stack holds the new JSON. */
  customJsonId: Ref;
};

interface OpsWorksDeploymentState {
  instanceIds: string[];
  recipes: string[];
  customJsonSha256: string | undefined;
  status: string;
  /** What the stack holds now (the NATs read it whenever a recipe runs). */
  stackCustomJson: unknown;
}

const COMMENT = 'dupsworks: execute_recipes with custom JSON sha256:';

/** "opsworks/deployment": the last deployment this engine made stands for all of them. */
const ids = idScheme('opsworks/deployment', []);

export const opsworksDeployment = {
  kind: 'opsworks-deployment',
  ids,
  permissions: ['opsworks:CreateDeployment', 'opsworks:DescribeDeployments'],
  desire: (props: OpsWorksDeploymentProps) => desired('opsworks-deployment', ids.id({}), props),

  async observe(ctx) {
    const [deployments, stacks] = await Promise.all([ctx.opsworksSnapshot.deployments(), ctx.opsworksSnapshot.stacks()]);
    const ours = deployments.filter((d) => d.Comment?.startsWith(COMMENT));
    const last = ours.sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))[0];
    if (!last) return [];
    const stack = stacks.find((s) => s.StackId === last.StackId);
    return [
      {
        id: ids.id({}),
        kind: 'opsworks-deployment' as const,
        physicalId: last.DeploymentId!,
        outputs: { id: last.DeploymentId! },
        // A past deployment holds nothing in use: its instances may go while the next one runs.
        references: [last.StackId!],
        owned: false,
        state: { ...stateOf(last), stackCustomJson: parseCustomJson(stack?.CustomJson) },
      },
    ];
  },

  diff(desired, observed) {
    const comparable = {
      instanceIds: [...desired.instanceIds].sort(),
      recipes: desired.recipes,
      // A digest of what is not known yet is not known either, for the same reason.
      customJsonSha256: firstUnknown(desired.customJson) ?? customJsonDigest(desired.customJson),
    };
    const changes: ChangeOf<OpsWorksDeploymentProps, OpsWorksDeploymentState>[] = compareAttributes(comparable, observed.state, {
      instanceIds: {},
      recipes: {},
      customJsonSha256: {},
    });
    if (changes.length > 0) return changes;
    if (observed.state.status === 'failed') {
      return [{ path: 'status', before: 'failed', after: 'successful', reason: 'the last deployment failed' }];
    }
    // Edited by hand since: the custom JSON resource writes it back, and the NATs must read it again
    // (anything that ran vpcnat meanwhile, a NAT's reboot for one, took the edited one).
    const { stackCustomJson } = observed.state;
    if (!containsUnknown(desired.customJson) && !equal(desired.customJson, stackCustomJson)) {
      const before = stackCustomJson === undefined ? undefined : customJsonDigest(stackCustomJson);
      return [
        {
          path: 'customJsonSha256',
          before,
          after: comparable.customJsonSha256,
          reason: "the stack's custom JSON was edited since the last deployment",
        },
      ];
    }
    return [];
  },

  async preview(desired) {
    const { customJson, customJsonId: _, ...shown } = desired;
    return { ...shown, customJsonSha256: firstUnknown(customJson) ?? customJsonDigest(customJson) };
  },

  async create(desired, ctx) {
    return deploy(desired, ctx);
  },

  async update(desired, _observed, _changes, ctx) {
    return deploy(desired, ctx);
  },

  async delete() {
    // History stays.
  },
} satisfies ResourceKind<'opsworks-deployment', OpsWorksDeploymentProps, OpsWorksDeploymentState, AwsContext>;

async function deploy(desired: { stackId: string; instanceIds: string[]; recipes: string[]; customJson: unknown }, ctx: AwsContext) {
  const { CreateDeploymentCommand, DescribeDeploymentsCommand } = await import('@aws-sdk/client-opsworks');
  const { DeploymentId } = await ctx.opsworks.send(
    new CreateDeploymentCommand({
      StackId: desired.stackId,
      InstanceIds: desired.instanceIds,
      Command: { Name: 'execute_recipes', Args: { recipes: desired.recipes } },
      Comment: `${COMMENT}${customJsonDigest(desired.customJson)}`,
    }),
  );
  await pollUntil(
    { what: `deployment ${DeploymentId} to finish`, intervalMs: ctx.pollIntervalMs, timeoutSeconds: ctx.instanceWaitSeconds },
    async () => (await ctx.opsworks.send(new DescribeDeploymentsCommand({ DeploymentIds: [DeploymentId!] }))).Deployments![0]!,
    (d) => (d.Status === 'successful' ? 'done' : d.Status === 'failed' ? { failed: `deployment ${DeploymentId} failed` } : 'waiting'),
  );
  return { id: DeploymentId! };
}

function stateOf(d: Deployment): Omit<OpsWorksDeploymentState, 'stackCustomJson'> {
  return {
    instanceIds: [...(d.InstanceIds ?? [])].sort(),
    recipes: d.Command?.Args?.recipes ?? [],
    customJsonSha256: d.Comment?.slice(COMMENT.length),
    status: d.Status ?? 'unknown',
  };
}
