// CreateLayer, DescribeLayers, UpdateLayer, DeleteLayer.
//
// The quirk the original author hit lives here: a layer's packages are checked against the STACK's
// default OS, whatever OS its instances run ("Packages: jq is not a valid Ubuntu 12.04 LTS package
// name" on a stack defaulting to Ubuntu 12.04, even for a layer of Amazon Linux instances).

import { randomUUID } from 'node:crypto';
import type { CreateLayerRequest, DeleteLayerRequest, DescribeLayersRequest, Recipes, UpdateLayerRequest } from '@aws-sdk/client-opsworks';
import { CUSTOM_LAYER_GROUP, LAYER_TYPES, invalidPackage } from './catalog.js';
import { validationError } from './errors.js';
import { checkCustomJson, checkOneOf, readInput, type Shape } from './input.js';
import { copy, givenFields, layerArn, timestamp, type LayerRecord, type StackRecord } from './model.js';
import type { Handler, Service } from './service.js';

type LayerSettings = Omit<UpdateLayerRequest, 'LayerId'>;

const SETTINGS_SHAPE: Shape<LayerSettings> = {
  Name: 'string',
  Shortname: 'string',
  Attributes: 'stringMap',
  CustomInstanceProfileArn: 'string',
  CustomJson: 'string',
  CustomSecurityGroupIds: 'strings',
  Packages: 'strings',
  EnableAutoHealing: 'boolean',
  AutoAssignElasticIps: 'boolean',
  AutoAssignPublicIps: 'boolean',
  CustomRecipes: 'object',
  InstallUpdatesOnBoot: 'boolean',
  UseEbsOptimizedInstances: 'boolean',
  LifecycleEventConfiguration: 'object',
};

const LIFECYCLE_EVENTS = ['Setup', 'Configure', 'Deploy', 'Undeploy', 'Shutdown'] as const;

export const createLayer: Handler = async (body, service) => {
  const input = readInput<CreateLayerRequest>(body, { ...SETTINGS_SHAPE, StackId: 'string', Type: 'string' }, [
    'StackId',
    'Type',
    'Name',
    'Shortname',
  ]);
  const stack = service.state.stack(input.StackId!);
  checkOneOf('Type', input.Type, LAYER_TYPES);
  // Built-in layers each had their own OpsWorks group, recipes and attributes; dupsworks uses custom ones only.
  if (input.Type !== 'custom') throw validationError(`Type: ${input.Type} layers are not emulated; use custom`);
  await checkSettings(service, stack, input);

  const layerId = randomUUID();
  const record: LayerRecord = {
    tags: {},
    layer: {
      LayerId: layerId,
      StackId: stack.stack.StackId,
      Arn: layerArn(stack.stack.Region, layerId),
      Type: input.Type,
      Name: input.Name!,
      Shortname: input.Shortname!,
      Attributes: input.Attributes,
      CustomInstanceProfileArn: input.CustomInstanceProfileArn,
      CustomJson: input.CustomJson,
      CustomSecurityGroupIds: input.CustomSecurityGroupIds ?? [],
      DefaultSecurityGroupNames: [CUSTOM_LAYER_GROUP],
      Packages: input.Packages ?? [],
      VolumeConfigurations: input.VolumeConfigurations ?? [],
      EnableAutoHealing: input.EnableAutoHealing ?? true,
      AutoAssignElasticIps: input.AutoAssignElasticIps ?? false,
      AutoAssignPublicIps: input.AutoAssignPublicIps ?? false,
      DefaultRecipes: recipes(undefined),
      CustomRecipes: recipes(input.CustomRecipes),
      CreatedAt: timestamp(),
      InstallUpdatesOnBoot: input.InstallUpdatesOnBoot ?? true,
      UseEbsOptimizedInstances: input.UseEbsOptimizedInstances ?? false,
      LifecycleEventConfiguration: input.LifecycleEventConfiguration ?? {
        Shutdown: { ExecutionTimeout: 120, DelayUntilElbConnectionsDrained: false },
      },
    },
  };
  service.state.layers.set(layerId, record);
  return { LayerId: layerId };
};

export const describeLayers: Handler = (body, service) => {
  const input = readInput<DescribeLayersRequest>(body, { StackId: 'string', LayerIds: 'strings' });
  const { state } = service;
  const byIds = input.LayerIds !== undefined && input.LayerIds !== null;
  if (byIds === (input.StackId !== undefined && input.StackId !== null)) {
    throw validationError('Please provide either one stack ID or one or more layer IDs');
  }
  const records = byIds ? input.LayerIds!.map((id) => state.layer(id)) : state.layersOf(state.stack(input.StackId!).stack.StackId);
  return { Layers: records.map((r) => copy(r.layer)) };
};

export const updateLayer: Handler = async (body, service) => {
  const input = readInput<UpdateLayerRequest>(body, { ...SETTINGS_SHAPE, LayerId: 'string' }, ['LayerId']);
  const record = service.state.layer(input.LayerId!);
  const stack = service.state.stack(record.layer.StackId);
  if (input.Name === '' || input.Shortname === '') throw validationError('Name and Shortname must not be empty');
  await checkSettings(service, stack, input, record);
  const { LayerId: _, ...changes } = input;
  if (changes.CustomRecipes) changes.CustomRecipes = recipes(changes.CustomRecipes);
  Object.assign(record.layer, givenFields(changes));
  return {};
};

export const deleteLayer: Handler = (body, service) => {
  const input = readInput<DeleteLayerRequest>(body, { LayerId: 'string' }, ['LayerId']);
  const record = service.state.layer(input.LayerId!);
  const instances = [...service.state.instances.values()].filter((i) => i.instance.LayerIds.includes(record.layer.LayerId));
  if (instances.length > 0) {
    throw validationError(`Cannot delete layer ${record.layer.LayerId}: it still has ${instances.length} instance(s); delete them first`);
  }
  service.state.layers.delete(record.layer.LayerId);
  return {};
};

async function checkSettings(service: Service, stack: StackRecord, input: LayerSettings, self?: LayerRecord): Promise<void> {
  const others = service.state.layersOf(stack.stack.StackId).filter((l) => l !== self);
  if (input.Shortname !== undefined) {
    if (!/^[a-zA-Z0-9_.-]{1,200}$/.test(input.Shortname)) {
      throw validationError(`Shortname: ${input.Shortname} may hold only letters, digits, '-', '_' and '.' (at most 200)`);
    }
    if (others.some((l) => l.layer.Shortname === input.Shortname)) {
      throw validationError(`Shortname: the stack already has a layer with the short name ${input.Shortname}`);
    }
  }
  if (input.Name !== undefined && others.some((l) => l.layer.Name === input.Name)) {
    throw validationError(`Name: the stack already has a layer named ${input.Name}`);
  }
  const unknown = invalidPackage(stack.stack.DefaultOs, input.Packages ?? []);
  if (unknown !== undefined) throw validationError(`Packages: ${unknown} is not a valid ${stack.stack.DefaultOs} package name`);
  checkCustomJson('CustomJson', input.CustomJson);
  for (const [event, list] of Object.entries(input.CustomRecipes ?? {})) {
    checkOneOf('CustomRecipes', event, LIFECYCLE_EVENTS);
    if (!Array.isArray(list) || !list.every((r) => typeof r === 'string'))
      throw validationError(`CustomRecipes.${event}: a list of recipe names`);
  }
  const groups = input.CustomSecurityGroupIds ?? [];
  const found = await service.ec2.groupsInVpc(stack.stack.Region, stack.vpcId, groups);
  const missing = groups.filter((g) => !found.has(g));
  if (missing.length > 0)
    throw validationError(`CustomSecurityGroupIds: ${missing.join(', ')} not found in the stack's VPC ${stack.vpcId}`);
}

function recipes(given: Recipes | undefined): Recipes {
  return Object.fromEntries(LIFECYCLE_EVENTS.map((event) => [event, [...(given?.[event] ?? [])]]));
}
