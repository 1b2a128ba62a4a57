// What an EC2 instance uses, as its description tells them (no SDK at load time: the kinds read
// it, and the topology imports the kinds): its security groups, and the internet gateway its
// public address keeps attached.

import type { Instance, InternetGateway } from '@aws-sdk/client-ec2';

/** The security groups an instance uses: those of its primary network interface. */
export function instanceGroupIds(instance: Instance): string[] {
  const groups = instance.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0)?.Groups ?? instance.SecurityGroups ?? [];
  return groups.map((g) => g.GroupId!);
}

/**
 * The internet gateways attached to the VPC of an instance with a public address: EC2 refuses to
 * detach one while such an instance runs ("mapped public address(es)").
 */
export function gatewaysHeldBy(instance: Instance, gateways: readonly InternetGateway[]): string[] {
  if (!instance.PublicIpAddress || ['shutting-down', 'terminated'].includes(instance.State?.Name ?? '')) return [];
  return gateways.filter((g) => g.Attachments?.some((a) => a.VpcId === instance.VpcId)).map((g) => g.InternetGatewayId!);
}
