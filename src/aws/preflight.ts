// What only AWS can say about a spec, asked at plan time before anything is changed: the instance
// types it names exist in the region and have an image to boot. Each problem names the spec's
// field, so a host can show it where validate would.
//
// It reads through the plan's snapshot, so what it asks is asked once: a NAT already running the
// type proves it exists (no call), else one DescribeInstanceTypes for every type the spec names,
// which the default image's look-up then shares.

import { SpecRejected, type SpecProblem } from '../errors.js';
import { imageArchitecture } from '../resources/nat-instance.js';
import type { Spec } from '../spec/types.js';
import type { AwsContext } from './context.js';

/** Throws SpecRejected, one problem per field, when the region cannot give what the spec asks for. */
export async function preflight(spec: Spec, ctx: AwsContext): Promise<void> {
  const problems = await instanceTypeProblems(spec, ctx);
  if (problems.length > 0) throw new SpecRejected(problems);
}

async function instanceTypeProblems(spec: Spec, ctx: AwsContext): Promise<SpecProblem[]> {
  const fields: { path: SpecProblem['path']; type: string; needsImage: boolean }[] = [
    { path: ['nat', 'instanceType'], type: spec.nat.instanceType, needsImage: spec.nat.manager === 'ec2' && !spec.nat.imageId },
  ];
  const admin = spec.opsworks?.admin.instanceType;
  if (admin !== undefined && admin !== spec.nat.instanceType)
    fields.push({ path: ['opsworks', 'admin', 'instanceType'], type: admin, needsImage: false });

  const running = new Set<string>(
    (await ctx.snapshot.instances())
      .filter((i) => ['pending', 'running'].includes(i.State?.Name ?? ''))
      .flatMap((i) => i.InstanceType ?? []),
  );
  // A type an instance of the stack runs exists, and had an image to boot.
  const unproven = fields.filter((f) => !running.has(f.type));
  if (unproven.length === 0) return [];
  const known = await ctx.snapshot.instanceTypes(unproven.map((f) => f.type));
  return unproven.flatMap(({ path, type, needsImage }): SpecProblem[] => {
    const info = known.get(type);
    if (!info) {
      return [
        {
          path,
          message:
            `${type} is not an instance type EC2 offers in ${ctx.region}; choose one it does, such as t4g.nano (arm64) or t3.micro ` +
            `(x86_64), as listed by aws ec2 describe-instance-types --region ${ctx.region}`,
        },
      ];
    }
    if (needsImage && !imageArchitecture(info)) {
      const runs = (info.ProcessorInfo?.SupportedArchitectures ?? []).join(', ') || 'an unknown architecture';
      return [
        {
          path,
          message:
            `${type} runs ${runs}, for which there is no Amazon Linux 2023 image; choose an x86_64 or arm64 type such as ` +
            't4g.nano or t3.micro, or give nat.imageId',
        },
      ];
    }
    return [];
  });
}
