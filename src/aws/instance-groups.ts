// The security groups an EC2 instance uses, as its description tells them (no SDK at load time:
// the kinds read it, and the topology imports the kinds).

import type { Instance } from '@aws-sdk/client-ec2';

/** The security groups an instance uses: those of its primary network interface. */
export function instanceGroupIds(instance: Instance): string[] {
  const groups = instance.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0)?.Groups ?? instance.SecurityGroups ?? [];
  return groups.map((g) => g.GroupId!);
}
