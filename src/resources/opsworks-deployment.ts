// Running the vpcnat recipe on the NATs after their custom JSON changed (OpsWorks's
// execute_recipes command). The NATs read the custom JSON only when a recipe runs; their Setup run
// at boot comes before the custom JSON can name them, so a deployment must follow every change.
//
// The last deployment this engine made says, in its comment, the digest of the custom JSON it ran
// with: a different desired digest, other instances, or a failed run mean deploying again.
// Deployments are history: never deleted.

import { CreateDeploymentCommand, DescribeDeploymentsCommand, type Deployment } from '@aws-sdk/client-opsworks';
import type { AwsContext } from '../aws/context.js';
import { pollUntil } from '../aws/wait.js';
import { compareAttributes } from '../planner/diff.js';
import type { AttributeChange, ResourceKind } from '../planner/resource.js';
import { containsUnknown, UNKNOWN, type Ref, type Value } from '../planner/values.js';
import { customJsonDigest } from './opsworks-custom-json.js';

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
}

const COMMENT = 'dupsworks: execute_recipes with custom JSON sha256:';

export const opsworksDeployment: ResourceKind<OpsWorksDeploymentProps, OpsWorksDeploymentState, AwsContext> = {
  kind: 'opsworks-deployment',

  async observe(ctx) {
    const ours = (await ctx.opsworksSnapshot.deployments()).filter((d) => d.Comment?.startsWith(COMMENT));
    const last = ours.sort((a, b) => (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? ''))[0];
    if (!last) return [];
    return [
      {
        id: 'opsworks/deployment',
        kind: 'opsworks-deployment',
        physicalId: last.DeploymentId!,
        outputs: { id: last.DeploymentId! },
        // A past deployment holds nothing in use: its instances may go while the next one runs.
        references: [last.StackId!],
        owned: false,
        state: stateOf(last),
      },
    ];
  },

  diff(desired, observed) {
    const comparable = {
      instanceIds: [...desired.instanceIds].sort(),
      recipes: desired.recipes,
      customJsonSha256: containsUnknown(desired.customJson) ? UNKNOWN : customJsonDigest(desired.customJson),
    };
    const changes: AttributeChange[] = compareAttributes(comparable, observed.state, {
      instanceIds: {},
      recipes: {},
      customJsonSha256: {},
    });
    if (changes.length === 0 && observed.state.status === 'failed') {
      changes.push({ path: 'status', before: 'failed', after: 'successful', reason: 'the last deployment failed' });
    }
    return changes;
  },

  async preview(desired) {
    const { customJson, customJsonId: _, ...shown } = desired;
    return { ...shown, customJsonSha256: containsUnknown(customJson) ? UNKNOWN : customJsonDigest(customJson) };
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
};

async function deploy(desired: { stackId: string; instanceIds: string[]; recipes: string[]; customJson: unknown }, ctx: AwsContext) {
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

function stateOf(d: Deployment): OpsWorksDeploymentState {
  return {
    instanceIds: [...(d.InstanceIds ?? [])].sort(),
    recipes: d.Command?.Args?.recipes ?? [],
    customJsonSha256: d.Comment?.slice(COMMENT.length),
    status: d.Status ?? 'unknown',
  };
}
