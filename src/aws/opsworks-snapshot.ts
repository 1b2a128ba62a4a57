// One read of the stack's OpsWorks side per plan, as snapshot.ts is for EC2. OpsWorks has no tag
// filter: the stack is found by its name, and is ours only as the OpsWorks stack kind says
// (isOurStack: its tag, or its mark); a stack of the same name that is not is never read further.
// Everything else is read per stack of ours: one Describe call per kind.

import {
  DescribeDeploymentsCommand,
  DescribeInstancesCommand,
  DescribeLayersCommand,
  DescribePermissionsCommand,
  DescribeStacksCommand,
  ListTagsCommand,
  type Deployment,
  type Instance,
  type Layer,
  type OpsWorksClient,
  type Permission,
  type Stack,
} from '@aws-sdk/client-opsworks';
import { isOurStack } from '../resources/opsworks-stack.js';
import { Memo } from './memo.js';

/** What the OpsWorks snapshot's listings call, as IAM actions. */
export const permissions = [
  'opsworks:DescribeDeployments',
  'opsworks:DescribeInstances',
  'opsworks:DescribeLayers',
  'opsworks:DescribePermissions',
  'opsworks:DescribeStacks',
  'opsworks:ListTags',
];

export class OpsWorksSnapshot {
  private readonly memo = new Memo();

  constructor(
    private readonly opsworks: OpsWorksClient,
    private readonly stack: string,
  ) {}

  /** The OpsWorks stacks of this dupsworks stack, oldest first (more than one only after a mishap). */
  async stacks(): Promise<Stack[]> {
    return (await this.ourStacks()).map((s) => s.stack);
  }

  /** The same, each with its tags (the stack tag is missing when an interrupted apply did not get to it). */
  ourStacks(): Promise<{ stack: Stack; tags: Record<string, string> }[]> {
    return this.memo.once('stacks', async () => {
      const all = (await this.opsworks.send(new DescribeStacksCommand({}))).Stacks ?? [];
      const named = all.filter((s) => s.Name === this.stack);
      const found = await Promise.all(
        named.map(async (stack) => {
          const tags = (await this.opsworks.send(new ListTagsCommand({ ResourceArn: stack.Arn! }))).Tags ?? {};
          return { stack, tags };
        }),
      );
      return found
        .filter(({ stack, tags }) => isOurStack(this.stack, tags, stack.CustomJson))
        .sort((a, b) => (a.stack.CreatedAt ?? '').localeCompare(b.stack.CreatedAt ?? ''));
    });
  }

  layers(): Promise<Layer[]> {
    return this.perStack('layers', async (StackId) => (await this.opsworks.send(new DescribeLayersCommand({ StackId }))).Layers ?? []);
  }

  instances(): Promise<Instance[]> {
    return this.perStack(
      'instances',
      async (StackId) => (await this.opsworks.send(new DescribeInstancesCommand({ StackId }))).Instances ?? [],
    );
  }

  permissions(): Promise<Permission[]> {
    return this.perStack(
      'permissions',
      async (StackId) => (await this.opsworks.send(new DescribePermissionsCommand({ StackId }))).Permissions ?? [],
    );
  }

  /** Newest first, as OpsWorks lists them. */
  deployments(): Promise<Deployment[]> {
    return this.perStack(
      'deployments',
      async (StackId) => (await this.opsworks.send(new DescribeDeploymentsCommand({ StackId }))).Deployments ?? [],
    );
  }

  private perStack<T>(key: string, read: (stackId: string) => Promise<T[]>): Promise<T[]> {
    return this.memo.once(key, async () => (await Promise.all((await this.stacks()).map((s) => read(s.StackId!)))).flat());
  }
}
