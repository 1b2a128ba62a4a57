// The default image follows the instance type's architecture, read from EC2's data on the type
// once per plan; a type the region lacks, or one no Amazon Linux 2023 image runs on, is refused at
// the spec's field before anything is made.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Instance, InstanceTypeInfo } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../../src/aws/context.js';
import { preflight } from '../../src/aws/preflight.js';
import { SpecRejected } from '../../src/errors.js';
import type { Resolved } from '../../src/planner/values.js';
import { DEFAULT_IMAGE_PARAMETERS, imageArchitecture, natInstance, type NatInstanceProps } from '../../src/resources/nat-instance.js';
import { desiredResources } from '../../src/topology/index.js';
import { makeSpec } from './fixtures.js';

/** EC2's data on a few real types, as DescribeInstanceTypes gives it. */
const TYPES: Record<string, string[]> = {
  't4g.nano': ['arm64'],
  'c7g.large': ['arm64'],
  't3.micro': ['x86_64'],
  't2.micro': ['i386', 'x86_64'],
  'mac2.metal': ['arm64_mac'],
};

const AMIS: Record<string, string> = {
  [DEFAULT_IMAGE_PARAMETERS.arm64]: 'ami-0a0a0a0a0a0a0a0a0',
  [DEFAULT_IMAGE_PARAMETERS.x86_64]: 'ami-0b0b0b0b0b0b0b0b0',
};

function info(type: string): InstanceTypeInfo {
  return { InstanceType: type as InstanceTypeInfo['InstanceType'], ProcessorInfo: { SupportedArchitectures: TYPES[type] as never } };
}

/** A context whose snapshot answers from TYPES and AMIS, counting what it is asked. */
function fakeContext(instances: Partial<Instance>[] = []) {
  const asked = { instanceTypes: [] as string[][], parameters: [] as string[] };
  const ctx = {
    stack: 'test-stack',
    region: 'ap-northeast-1',
    snapshot: {
      instances: async () => instances,
      instanceTypes: async (names: string[]) => {
        asked.instanceTypes.push([...names]);
        return new Map(names.filter((n) => n in TYPES).map((n) => [n, info(n)]));
      },
      parameter: async (name: string) => {
        asked.parameters.push(name);
        return AMIS[name]!;
      },
    },
  } as unknown as AwsContext;
  return { ctx, asked };
}

function natProps(spec = makeSpec(2)): Resolved<NatInstanceProps> {
  const nat = desiredResources(spec).find((d) => d.kind === 'nat-instance')!;
  // Resolved as the plan resolves it: the references to the subnet, group and the agent's profile made.
  return {
    ...(nat.props as NatInstanceProps),
    subnetId: 'subnet-1',
    securityGroupIds: ['sg-1'],
    instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/dupsworks/nat',
  };
}

describe('the default image for the instance type', () => {
  it('reads the architecture from EC2: arm64 for Graviton types, x86_64 for the others, none for a Mac', () => {
    assert.equal(imageArchitecture(info('t4g.nano')), 'arm64');
    assert.equal(imageArchitecture(info('c7g.large')), 'arm64');
    assert.equal(imageArchitecture(info('t3.micro')), 'x86_64');
    assert.equal(imageArchitecture(info('t2.micro')), 'x86_64', 'i386 and x86_64: the 64-bit image');
    assert.equal(imageArchitecture(info('mac2.metal')), undefined);
    assert.equal(imageArchitecture({ InstanceType: 't3.micro' }), undefined, 'no processor data: no guess');
  });

  it('plans the arm64 Amazon Linux 2023 image for t4g.nano and the x86_64 one for t3.micro, shown with the architecture', async () => {
    for (const [type, arch] of [
      ['t4g.nano', 'arm64'],
      ['t3.micro', 'x86_64'],
    ] as const) {
      const { ctx, asked } = fakeContext();
      const shown: Record<string, unknown> = await natInstance.preview(natProps(makeSpec(2, { instanceType: type })), ctx);
      assert.equal(shown.imageId, AMIS[DEFAULT_IMAGE_PARAMETERS[arch]], type);
      assert.equal(shown.architecture, arch);
      assert.deepEqual(asked.parameters, [DEFAULT_IMAGE_PARAMETERS[arch]]);
      assert.deepEqual(asked.instanceTypes, [[type]]);
    }
  });

  it('leaves an image given by nat.imageId as it is, asking EC2 nothing', async () => {
    const { ctx, asked } = fakeContext();
    const shown: Record<string, unknown> = await natInstance.preview(
      natProps(makeSpec(2, { instanceType: 't4g.nano', imageId: 'ami-0123456789abcdef0' })),
      ctx,
    );
    assert.equal(shown.imageId, 'ami-0123456789abcdef0');
    assert.equal(shown.architecture, undefined);
    assert.deepEqual(asked, { instanceTypes: [], parameters: [] });
  });
});

describe('preflight: what the region must offer', () => {
  it('refuses an instance type the region does not offer, naming nat.instanceType', async () => {
    const { ctx } = fakeContext();
    await assert.rejects(preflight(makeSpec(2, { instanceType: 'x9.huge' }), ctx), (error: unknown) => {
      assert.ok(error instanceof SpecRejected);
      assert.equal(error.problems.length, 1);
      assert.deepEqual(error.problems[0]!.path, ['nat', 'instanceType']);
      assert.match(error.problems[0]!.message, /^x9\.huge is not an instance type EC2 offers in ap-northeast-1; choose one it does/);
      assert.match(error.message, /^nat\.instanceType: x9\.huge/);
      return true;
    });
  });

  it('refuses a type no Amazon Linux 2023 image runs on when the default image is wanted, not when nat.imageId is given', async () => {
    await assert.rejects(preflight(makeSpec(2, { instanceType: 'mac2.metal' }), fakeContext().ctx), /mac2\.metal runs arm64_mac/);
    await preflight(makeSpec(2, { instanceType: 'mac2.metal', imageId: 'ami-0123456789abcdef0' }), fakeContext().ctx);
  });

  it('asks EC2 nothing when a NAT of the stack already runs the type (a no-op plan costs no call)', async () => {
    const { ctx, asked } = fakeContext([{ InstanceId: 'i-1', InstanceType: 't4g.nano', State: { Name: 'running' } }]);
    await preflight(makeSpec(2, { instanceType: 't4g.nano' }), ctx);
    assert.deepEqual(asked.instanceTypes, []);
  });

  it('asks once when only terminated instances ran the type', async () => {
    const { ctx, asked } = fakeContext([{ InstanceId: 'i-1', InstanceType: 't4g.nano', State: { Name: 'terminated' } }]);
    await preflight(makeSpec(2, { instanceType: 't4g.nano' }), ctx);
    assert.deepEqual(asked.instanceTypes, [['t4g.nano']]);
  });
});
