// What only AWS can say about a spec, asked at plan time before anything is changed: the instance
// types it names exist in the region and have an image to boot, and the Elastic IPs it names for
// reuse exist, are no stack's own and are free (or held by this stack's NATs). Each problem names
// the spec's field, so a host can show it where validate would.
//
// It reads through the plan's snapshot, so what it asks is asked once: a NAT already running the
// type proves it exists (no call), else one DescribeInstanceTypes for every type the spec names,
// which the default image's look-up then shares.

import { SpecRejected, type SpecProblem } from '../errors.js';
import { imageArchitecture } from '../resources/nat-instance.js';
import type { Spec } from '../spec/types.js';
import type { AwsContext } from './context.js';
import { RESOURCE_TAG, STACK_TAG, tagMap } from './tags.js';

/** Throws SpecRejected, one problem per field, when the region cannot give what the spec asks for. */
export async function preflight(spec: Spec, ctx: AwsContext): Promise<void> {
  const problems = (await Promise.all([instanceTypeProblems(spec, ctx), reusedAddressProblems(spec, ctx)])).flat();
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

/**
 * An address named for reuse is associated with a NAT of the stack, and with nothing else: moving
 * it off another's instance would change what is not this stack's, and one the stack allocated
 * itself would be released once the spec stops asking for it as its own.
 */
async function reusedAddressProblems(spec: Spec, ctx: AwsContext): Promise<SpecProblem[]> {
  const reused = Array.isArray(spec.nat.elasticIps) ? spec.nat.elasticIps : [];
  if (reused.length === 0) return [];
  const [addresses, instances] = await Promise.all([ctx.snapshot.addresses(), ctx.snapshot.instances()]);
  const ours = new Set(instances.map((i) => i.InstanceId));
  return reused.flatMap((allocationId, i): SpecProblem[] => {
    const path = ['nat', 'elasticIps', i];
    const address = addresses.find((a) => a.AllocationId === allocationId);
    if (!address) {
      return [
        {
          path,
          message:
            `${allocationId} is no Elastic IP of this account in ${ctx.region}; give the allocation id of one it has ` +
            '(aws ec2 describe-addresses), or write elasticIps: true to have the stack allocate them',
        },
      ];
    }
    const named = `${allocationId} (${address.PublicIp})`;
    const tags = tagMap(address.Tags);
    if (tags[STACK_TAG] === spec.name) {
      return [
        {
          path,
          message:
            `${named} is this stack's own (${tags[RESOURCE_TAG] ?? 'no logical id'}), which it releases once the spec no longer ` +
            'asks for its own addresses; keep elasticIps: true to keep it, or name addresses the stack did not allocate',
        },
      ];
    }
    if (tags[STACK_TAG] !== undefined) {
      return [{ path, message: `${named} belongs to dupsworks stack ${tags[STACK_TAG]}; name an address no other stack uses` }];
    }
    if (address.AssociationId && !ours.has(address.InstanceId || undefined)) {
      const holder = address.InstanceId || address.NetworkInterfaceId || 'something else';
      return [
        {
          path,
          message:
            `${named} is held by ${holder}, which is not this stack's; free it first (aws ec2 disassociate-address ` +
            `--association-id ${address.AssociationId}), or name a free address`,
        },
      ];
    }
    return [];
  });
}
