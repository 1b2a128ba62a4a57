// The OpsWorks stack, as the original made it: in the VPC, its default subnet the first zone's
// private subnet, Chef with Berkshelf, custom cookbooks from git. Its custom JSON is a resource of
// its own (opsworks-custom-json.ts): it names EC2 ids that exist only once the stack's instances
// run, so it must come after them.
//
// OpsWorks has no tag-on-create: the stack is tagged `dupsworks:stack` right after CreateStack,
// and found by name and that tag. It is created with a mark in its custom JSON, so a stack whose
// tagging an interruption prevented is still recognised, and tagged by the next apply.

import type { Stack } from '@aws-sdk/client-opsworks';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { STACK_TAG } from '../aws/tags.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import type { Known, Ref } from '../planner/values.js';
import { desired, type ChangeOf, type Observed, type ResourceKind } from '../planner/resource.js';

export type OpsWorksStackProps = {
  name: string;
  region: string;
  vpcId: Ref;
  defaultSubnetId: Ref;
  serviceRoleArn: string;
  defaultInstanceProfileArn: string;
  defaultOs: string;
  defaultRootDeviceType: string;
  defaultSshKeyName?: string;
  configurationManager: { name: string; version: string };
  chefConfiguration: { manageBerkshelf: boolean; berkshelfVersion: string };
  customCookbooksSource: { type: string; url: string; revision: string };
};

type OpsWorksStackState = Omit<Known<OpsWorksStackProps>, 'name'> & { tags: Record<string, string> };

/** "opsworks/stack": a dupsworks stack has one OpsWorks stack, of its own name. */
const ids = idScheme('opsworks/stack', []);

/**
 * What every OpsWorks stack the engine creates holds in its custom JSON from the first moment
 * (CreateStack takes no tags; they follow in a second call an interruption could prevent).
 */
export function stackMark(stack: string): { dupsworks: { stack: string } } {
  return { dupsworks: { stack } };
}

/**
 * Whether an OpsWorks stack named `stack` is this dupsworks stack's: it carries the stack tag, or
 * (made by an apply interrupted before it could tag it) the mark. A stack of the same name with
 * neither is someone else's and is never touched.
 */
export function isOurStack(stack: string, tags: Readonly<Record<string, string>>, customJson: string | undefined): boolean {
  if (tags[STACK_TAG] === stack) return true;
  try {
    return (JSON.parse(customJson ?? '') as Partial<ReturnType<typeof stackMark>>)?.dupsworks?.stack === stack;
  } catch {
    return false;
  }
}

export const opsworksStack = {
  kind: 'opsworks-stack',
  ids,
  // CreateStack hands OpsWorks the service role and instance profile: `dupsworks iam-policy` adds
  // iam:PassRole for those.
  permissions: ['opsworks:CreateStack', 'opsworks:DeleteStack', 'opsworks:DescribeStacks', 'opsworks:TagResource', 'opsworks:UpdateStack'],
  desire: (props: OpsWorksStackProps) => desired('opsworks-stack', ids.id({}), props),

  async observe(ctx) {
    return (await ctx.opsworksSnapshot.ourStacks()).map(({ stack: s, tags }): Observed<OpsWorksStackState, 'opsworks-stack'> => ({
      id: ids.id({}),
      kind: 'opsworks-stack',
      physicalId: s.StackId!,
      outputs: { id: s.StackId!, arn: s.Arn },
      references: [s.VpcId, s.DefaultSubnetId].filter((x): x is string => !!x),
      owned: true,
      state: { ...stateOf(s), tags },
    }));
  },

  diff(desired, observed) {
    const tag: ChangeOf<OpsWorksStackProps, OpsWorksStackState>[] =
      observed.state.tags[STACK_TAG] === desired.name
        ? []
        : [
            {
              path: `tags.${STACK_TAG}`,
              before: observed.state.tags[STACK_TAG],
              after: desired.name,
              reason: 'an interrupted apply created it but did not tag it',
            },
          ];
    const settings = compareAttributes(desired, observed.state, {
      region: { forcesReplacement: true },
      vpcId: { forcesReplacement: true },
      defaultSubnetId: {},
      serviceRoleArn: {},
      defaultInstanceProfileArn: {},
      defaultOs: {},
      defaultRootDeviceType: {},
      defaultSshKeyName: {},
      configurationManager: {},
      chefConfiguration: {},
      customCookbooksSource: {},
    });
    return [...tag, ...settings];
  },

  async create(desired, ctx) {
    const { CreateStackCommand, DescribeStacksCommand } = await import('@aws-sdk/client-opsworks');
    const { StackId } = await ctx.opsworks.send(
      new CreateStackCommand({
        Name: desired.name,
        Region: desired.region,
        VpcId: desired.vpcId,
        CustomJson: JSON.stringify(stackMark(ctx.stack)),
        ...settings(desired),
      }),
    );
    const [stack] = (await ctx.opsworks.send(new DescribeStacksCommand({ StackIds: [StackId!] }))).Stacks ?? [];
    await tag(ctx, stack!.Arn!);
    return { id: StackId!, arn: stack!.Arn };
  },

  async update(desired, observed, changes, ctx) {
    if (changes.some((c) => c.path === `tags.${STACK_TAG}`)) await tag(ctx, observed.outputs.arn!);
    if (changes.some((c) => !c.path.startsWith('tags.'))) {
      const { UpdateStackCommand } = await import('@aws-sdk/client-opsworks');
      await ctx.opsworks.send(new UpdateStackCommand({ StackId: observed.physicalId, ...settings(desired) }));
    }
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteStackCommand } = await import('@aws-sdk/client-opsworks');
    await ignoreNotFound(ctx.opsworks.send(new DeleteStackCommand({ StackId: observed.physicalId })));
  },
} satisfies ResourceKind<'opsworks-stack', OpsWorksStackProps, OpsWorksStackState, AwsContext>;

async function tag(ctx: AwsContext, arn: string) {
  const { TagResourceCommand } = await import('@aws-sdk/client-opsworks');
  await ctx.opsworks.send(new TagResourceCommand({ ResourceArn: arn, Tags: { [STACK_TAG]: ctx.stack } }));
}

// What CreateStack and UpdateStack share: everything but the name, region and VPC.
function settings(desired: Known<OpsWorksStackProps>) {
  return {
    DefaultSubnetId: desired.defaultSubnetId,
    ServiceRoleArn: desired.serviceRoleArn,
    DefaultInstanceProfileArn: desired.defaultInstanceProfileArn,
    DefaultOs: desired.defaultOs,
    DefaultRootDeviceType: desired.defaultRootDeviceType as 'ebs' | 'instance-store',
    ...(desired.defaultSshKeyName ? { DefaultSshKeyName: desired.defaultSshKeyName } : {}),
    ConfigurationManager: { Name: desired.configurationManager.name, Version: desired.configurationManager.version },
    ChefConfiguration: {
      ManageBerkshelf: desired.chefConfiguration.manageBerkshelf,
      BerkshelfVersion: desired.chefConfiguration.berkshelfVersion,
    },
    UseCustomCookbooks: true,
    CustomCookbooksSource: {
      Type: desired.customCookbooksSource.type as 'git',
      Url: desired.customCookbooksSource.url,
      Revision: desired.customCookbooksSource.revision,
    },
  };
}

function stateOf(s: Stack): Omit<OpsWorksStackState, 'tags'> {
  return {
    region: s.Region ?? '',
    vpcId: s.VpcId ?? '',
    defaultSubnetId: s.DefaultSubnetId ?? '',
    serviceRoleArn: s.ServiceRoleArn ?? '',
    defaultInstanceProfileArn: s.DefaultInstanceProfileArn ?? '',
    defaultOs: s.DefaultOs ?? '',
    defaultRootDeviceType: s.DefaultRootDeviceType ?? '',
    ...(s.DefaultSshKeyName ? { defaultSshKeyName: s.DefaultSshKeyName } : {}),
    configurationManager: { name: s.ConfigurationManager?.Name ?? '', version: s.ConfigurationManager?.Version ?? '' },
    chefConfiguration: {
      manageBerkshelf: s.ChefConfiguration?.ManageBerkshelf ?? false,
      berkshelfVersion: s.ChefConfiguration?.BerkshelfVersion ?? '',
    },
    customCookbooksSource: {
      type: s.CustomCookbooksSource?.Type ?? '',
      url: s.CustomCookbooksSource?.Url ?? '',
      revision: s.CustomCookbooksSource?.Revision ?? '',
    },
  };
}
