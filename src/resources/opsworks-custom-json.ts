// The OpsWorks stack's custom JSON: what the vpcnat cookbook reads on every NAT (which peer to
// watch, through which route table). It names the NATs' EC2 ids, which exist only once OpsWorks has
// started them, so it is a resource of its own, written after the instances are online (the
// original's chicken-and-egg, solved by the plan's order). It lives in the stack: UpdateStack.

import { createHash } from 'node:crypto';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { compareNested } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ChangeOf, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Ref, Value } from '../planner/values.js';

export type OpsWorksCustomJsonProps = {
  stackId: Ref;
  customJson: Value;
};

interface OpsWorksCustomJsonState {
  stackId: string;
  /** Parsed; undefined when the stack's custom JSON is empty or not JSON (edited by hand). */
  customJson: unknown;
}

/** "opsworks/custom-json": the stack has one. */
const ids = idScheme('opsworks/custom-json', []);

export const opsworksCustomJson = {
  kind: 'opsworks-custom-json',
  ids,
  permissions: ['opsworks:UpdateStack'],
  desire: (props: OpsWorksCustomJsonProps) => desired('opsworks-custom-json', ids.id({}), props),

  async observe(ctx) {
    return (await ctx.opsworksSnapshot.stacks()).slice(0, 1).map((s): Observed<OpsWorksCustomJsonState, 'opsworks-custom-json'> => ({
      id: ids.id({}),
      kind: 'opsworks-custom-json',
      physicalId: `${s.StackId}/custom-json`,
      outputs: { id: `${s.StackId}/custom-json` },
      // It names the NATs' EC2 instances and route tables: they go only once it no longer does.
      references: [s.StackId!, ...stringsIn(parseCustomJson(s.CustomJson))],
      owned: true,
      state: { stackId: s.StackId!, customJson: parseCustomJson(s.CustomJson) },
    }));
  },

  diff(desired, observed) {
    const changes: ChangeOf<OpsWorksCustomJsonProps, OpsWorksCustomJsonState>[] = [];
    if (desired.stackId !== observed.state.stackId) {
      changes.push({ path: 'stackId', before: observed.state.stackId, after: desired.stackId, forcesReplacement: true });
    }
    return [...changes, ...compareNested('customJson', desired.customJson, observed.state.customJson)];
  },

  async create(desired, ctx) {
    await write(ctx, desired.stackId, desired.customJson);
    return { id: `${desired.stackId}/custom-json` };
  },

  async update(desired, observed, _changes, ctx) {
    await write(ctx, observed.state.stackId, desired.customJson);
    return observed.outputs;
  },

  // It goes with its stack; alone, it is emptied.
  async delete(observed, ctx) {
    const { UpdateStackCommand } = await import('@aws-sdk/client-opsworks');
    await ignoreNotFound(ctx.opsworks.send(new UpdateStackCommand({ StackId: observed.state.stackId, CustomJson: '' })));
  },
} satisfies ResourceKind<'opsworks-custom-json', OpsWorksCustomJsonProps, OpsWorksCustomJsonState, AwsContext>;

/** A stable fingerprint of a custom JSON value, for deployments to say which one they ran with. */
export function customJsonDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

async function write(ctx: AwsContext, stackId: string, customJson: unknown) {
  const { UpdateStackCommand } = await import('@aws-sdk/client-opsworks');
  await ctx.opsworks.send(new UpdateStackCommand({ StackId: stackId, CustomJson: JSON.stringify(customJson) }));
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(stringsIn);
  return [];
}

/** A stack's custom JSON as data; undefined when empty or not JSON. */
export function parseCustomJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
