// One read of the stack's OpsWorks side per plan, as snapshot.ts is for EC2. OpsWorks has no tag
// filter: the stack is found by its name, and is ours only if it carries `dupsworks:stack=<name>`
// (a stack of the same name without it is someone else's and never touched). Everything else is
// read per stack: one Describe call per kind.

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
import { STACK_TAG } from './tags.js';
import { Memo } from './memo.js';

export class OpsWorksSnapshot {
  private readonly memo = new Memo();

  constructor(
    private readonly opsworks: OpsWorksClient,
    private readonly stack: string,
  ) {}

  /** The OpsWorks stacks of this dupsworks stack, oldest first (more than one only after a mishap). */
  stacks(): Promise<Stack[]> {
    return this.memo.once('stacks', async () => {
      const all = (await this.opsworks.send(new DescribeStacksCommand({}))).Stacks ?? [];
      const named = all.filter((s) => s.Name === this.stack);
      const tagged = await Promise.all(
        named.map(
          async (s) => ((await this.opsworks.send(new ListTagsCommand({ ResourceArn: s.Arn! }))).Tags ?? {})[STACK_TAG] === this.stack,
        ),
      );
      return named.filter((_, i) => tagged[i]).sort((a, b) => (a.CreatedAt ?? '').localeCompare(b.CreatedAt ?? ''));
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
