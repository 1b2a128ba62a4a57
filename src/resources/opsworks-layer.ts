// An OpsWorks custom layer ("Admin Server"/admin, "NAT Server"/nat), found by its shortname.
// Its packages are checked by OpsWorks against the STACK's default OS, whatever the OS of its
// instances: that error comes back from CreateLayer/UpdateLayer as the service words it.

import type { Layer } from '@aws-sdk/client-opsworks';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Known, Ref } from '../planner/values.js';

export type OpsWorksLayerProps = {
  stackId: Ref;
  name: string;
  shortname: string;
  packages: string[];
  /** Recipes run at the Setup lifecycle event (when an instance has booted). */
  setupRecipes: string[];
  autoAssignElasticIps: boolean;
  autoAssignPublicIps: boolean;
  /** Groups the layer's instances get besides OpsWorks's own. */
  customSecurityGroupIds: Ref[];
  /** Off: OpsWorks auto healing would replace instances behind the engine's back. */
  enableAutoHealing: boolean;
};

type OpsWorksLayerState = Known<OpsWorksLayerProps>;

/** "opsworks/layer/nat": a layer is named by its shortname, which is what observe finds it by. */
const ids = idScheme('opsworks/layer', ['shortname']);

export const opsworksLayer = {
  kind: 'opsworks-layer',
  ids,
  permissions: ['opsworks:CreateLayer', 'opsworks:DeleteLayer', 'opsworks:UpdateLayer'],
  desire: (props: OpsWorksLayerProps) => desired('opsworks-layer', ids.id({ shortname: props.shortname }), props),

  async observe(ctx) {
    return (await ctx.opsworksSnapshot.layers()).map((l): Observed<OpsWorksLayerState, 'opsworks-layer'> => ({
      id: ids.id({ shortname: l.Shortname! }),
      kind: 'opsworks-layer',
      physicalId: l.LayerId!,
      outputs: { id: l.LayerId! },
      references: [l.StackId!, ...(l.CustomSecurityGroupIds ?? [])],
      owned: true,
      state: stateOf(l),
    }));
  },

  diff(desired, observed) {
    const comparable = {
      ...desired,
      packages: sorted(desired.packages),
      customSecurityGroupIds: [...desired.customSecurityGroupIds].sort(),
    };
    return compareAttributes(comparable, observed.state, {
      stackId: { forcesReplacement: true },
      name: {},
      packages: {},
      setupRecipes: {},
      autoAssignElasticIps: {},
      autoAssignPublicIps: {},
      customSecurityGroupIds: {},
      enableAutoHealing: {},
    });
  },

  async create(desired, ctx) {
    const { CreateLayerCommand } = await import('@aws-sdk/client-opsworks');
    const { LayerId } = await ctx.opsworks.send(
      new CreateLayerCommand({ StackId: desired.stackId, Type: 'custom', Shortname: desired.shortname, ...settings(desired) }),
    );
    return { id: LayerId! };
  },

  async update(desired, observed, _changes, ctx) {
    const { UpdateLayerCommand } = await import('@aws-sdk/client-opsworks');
    await ctx.opsworks.send(new UpdateLayerCommand({ LayerId: observed.physicalId, ...settings(desired) }));
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteLayerCommand } = await import('@aws-sdk/client-opsworks');
    await ignoreNotFound(ctx.opsworks.send(new DeleteLayerCommand({ LayerId: observed.physicalId })));
  },
} satisfies ResourceKind<'opsworks-layer', OpsWorksLayerProps, OpsWorksLayerState, AwsContext>;

function settings(desired: Known<OpsWorksLayerProps>) {
  return {
    Name: desired.name,
    Packages: desired.packages,
    CustomRecipes: { Setup: desired.setupRecipes },
    AutoAssignElasticIps: desired.autoAssignElasticIps,
    AutoAssignPublicIps: desired.autoAssignPublicIps,
    CustomSecurityGroupIds: desired.customSecurityGroupIds,
    EnableAutoHealing: desired.enableAutoHealing,
  };
}

function stateOf(l: Layer): OpsWorksLayerState {
  return {
    stackId: l.StackId!,
    name: l.Name ?? '',
    shortname: l.Shortname!,
    packages: sorted(l.Packages ?? []),
    setupRecipes: l.CustomRecipes?.Setup ?? [],
    autoAssignElasticIps: l.AutoAssignElasticIps ?? false,
    autoAssignPublicIps: l.AutoAssignPublicIps ?? false,
    customSecurityGroupIds: sorted(l.CustomSecurityGroupIds ?? []),
    enableAutoHealing: l.EnableAutoHealing ?? false,
  };
}

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}
