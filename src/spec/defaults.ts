// The defaults of the spec's optional fields, in one place. parseSpec fills them in after
// validation, so the rest of the code sees src/spec/types.ts's required fields always present.
// The schema's `default` annotations (shown by editors) repeat these values; a unit test checks
// that the two agree.

import type { FailoverSpec, LayerSpec, OpsWorksSpec, Permission, Spec } from './types.js';

/** The opsworks section as a user may write it: everything but the required fields is optional. */
export interface OpsWorksInput {
  serviceRoleArn: string;
  defaultInstanceProfileArn: string;
  defaultOs?: string;
  defaultRootDeviceType?: OpsWorksSpec['defaultRootDeviceType'];
  chef?: Partial<OpsWorksSpec['chef']>;
  customCookbooks: { url: string; revision?: string };
  layers?: { admin?: Partial<LayerSpec>; nat?: Partial<LayerSpec> };
  admin?: Partial<OpsWorksSpec['admin']>;
  permissions?: Permission[];
  awscliVersion?: string;
}

/** A spec that passed validation, before defaults. A Spec is one too (withDefaults is idempotent). */
export type SpecInput = Omit<Spec, 'opsworks' | 'failover'> & { opsworks?: OpsWorksInput; failover?: Partial<FailoverSpec> };

/**
 * The failover agent's timings, measured in the lab (README "Failover"): a NAT that stops
 * forwarding is taken over in about failAfter x probeIntervalMs = 1.5 s (the bench's restore p95
 * was over 3 s with 10 x 200 ms); at 10% random loss each way (a probe lost with probability 0.19)
 * fifteen losses in a row start about 36,000 x 0.19^15, some 5e-7 times an hour: probing more
 * often with a longer run of losses detects sooner and is fooled less than 10 x 200 ms (about
 * 1e-3 an hour). Given back after 3 s of answers in a row, and the hold-down.
 */
export const FAILOVER_DEFAULTS = deepFreeze({
  probeIntervalMs: 100,
  failAfter: 15,
  recoverAfter: 30,
  holdDownSeconds: 60,
} as const);

/** The failover settings of a spec: its own, else the defaults (any spec, even one made in code). */
export function failoverOf(spec: Pick<SpecInput, 'failover'>): FailoverSpec {
  const given = spec.failover ?? {};
  return {
    probeIntervalMs: given.probeIntervalMs ?? FAILOVER_DEFAULTS.probeIntervalMs,
    failAfter: given.failAfter ?? FAILOVER_DEFAULTS.failAfter,
    recoverAfter: given.recoverAfter ?? FAILOVER_DEFAULTS.recoverAfter,
    holdDownSeconds: given.holdDownSeconds ?? FAILOVER_DEFAULTS.holdDownSeconds,
    ...(given.snsTopicArn === undefined ? {} : { snsTopicArn: given.snsTopicArn }),
  };
}

/** The values the original dupsworks used (settings.cfg), for every optional opsworks field with a fixed default. */
export const OPSWORKS_DEFAULTS = deepFreeze({
  defaultOs: 'Amazon Linux 2018.03',
  defaultRootDeviceType: 'ebs',
  chef: { version: '11.10', manageBerkshelf: true, berkshelfVersion: '2.0.18' },
  customCookbooks: { revision: 'master' },
  layers: {
    admin: { packages: ['traceroute'], os: 'Ubuntu 12.04 LTS' },
    nat: { packages: ['traceroute', 'jq'], os: 'Amazon Linux 2018.03' },
  },
  admin: { start: false },
  permissions: [],
} as const);

/**
 * The spec with every optional field filled in: with nat.manager ec2, the failover section
 * (FAILOVER_DEFAULTS); with opsworks, the opsworks section (the values of OPSWORKS_DEFAULTS, and
 * admin.instanceType from nat.instanceType). Pure: the input is not changed and shares no array
 * with the result's defaults.
 */
export function withDefaults(spec: SpecInput): Spec {
  const { failover: _, opsworks: input, ...rest } = spec;
  if (input === undefined) return { ...rest, ...(spec.nat.manager === 'ec2' ? { failover: failoverOf(spec) } : {}) };
  const d = OPSWORKS_DEFAULTS;
  const layer = (given: Partial<LayerSpec> | undefined, fallback: { packages: readonly string[]; os: string }): LayerSpec => ({
    packages: [...(given?.packages ?? fallback.packages)],
    os: given?.os ?? fallback.os,
  });
  const opsworks: OpsWorksSpec = {
    serviceRoleArn: input.serviceRoleArn,
    defaultInstanceProfileArn: input.defaultInstanceProfileArn,
    defaultOs: input.defaultOs ?? d.defaultOs,
    defaultRootDeviceType: input.defaultRootDeviceType ?? d.defaultRootDeviceType,
    chef: {
      version: input.chef?.version ?? d.chef.version,
      manageBerkshelf: input.chef?.manageBerkshelf ?? d.chef.manageBerkshelf,
      berkshelfVersion: input.chef?.berkshelfVersion ?? d.chef.berkshelfVersion,
    },
    customCookbooks: { url: input.customCookbooks.url, revision: input.customCookbooks.revision ?? d.customCookbooks.revision },
    layers: { admin: layer(input.layers?.admin, d.layers.admin), nat: layer(input.layers?.nat, d.layers.nat) },
    admin: { instanceType: input.admin?.instanceType ?? spec.nat.instanceType, start: input.admin?.start ?? d.admin.start },
    permissions: (input.permissions ?? d.permissions).map((permission) => ({ ...permission })),
    ...(input.awscliVersion === undefined ? {} : { awscliVersion: input.awscliVersion }),
  };
  return { ...rest, opsworks };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
