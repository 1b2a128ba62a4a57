// Test support: the AWS calls a source file makes, read from its text, as IAM actions. A command
// class, paginator or waiter is known by where it is imported from (`import { X } from
// '@aws-sdk/client-ec2'`, or `const { X } = await import('@aws-sdk/client-ec2')`), so OpsWorks's
// DescribeInstances is not EC2's. Besides the calls themselves, what AWS authorizes as another
// action: tagging at creation (TagSpecifications, through tagSpecifications()) and applyTags() are
// ec2:CreateTags; a DynamoDB table created with Tags needs dynamodb:TagResource.

const SERVICES: Record<string, string> = {
  'client-ec2': 'ec2',
  'client-ssm': 'ssm',
  'client-dynamodb': 'dynamodb',
  'client-opsworks': 'opsworks',
  'client-iam': 'iam',
  'client-sns': 'sns',
  'client-sts': 'sts',
};

/** The SDK's waiters, by the action they poll. */
const WAITERS: Record<string, string> = {
  waitUntilInstanceRunning: 'DescribeInstances',
  waitUntilInstanceTerminated: 'DescribeInstances',
  waitUntilInstanceStopped: 'DescribeInstances',
  waitUntilInstanceStatusOk: 'DescribeInstanceStatus',
};

export function sdkCalls(source: string): string[] {
  const imported = new Map<string, string>();
  const imports =
    /(?:import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/(client-[a-z0-9-]+)'|const\s*\{([^}]*)\}\s*=\s*await\s+import\('@aws-sdk\/(client-[a-z0-9-]+)'\))/g;
  for (const match of source.matchAll(imports)) {
    const [names, client] = [match[1] ?? match[3]!, match[2] ?? match[4]!];
    const service = SERVICES[client];
    if (!service) throw new Error(`sdkCalls: no IAM service known for @aws-sdk/${client}; add it to SERVICES`);
    for (const raw of names.split(',')) {
      const name = raw.trim().split(/\s+as\s+/)[0]!;
      if (name && !name.startsWith('type ')) imported.set(name, service);
    }
  }
  const calls = new Set<string>();
  for (const [name, service] of imported) {
    const used = new RegExp(`\\b${name}\\s*\\(`).test(source) || new RegExp(`new\\s+${name}\\b`).test(source);
    if (!used) continue;
    if (name.endsWith('Command')) calls.add(`${service}:${name.slice(0, -'Command'.length)}`);
    else if (name.startsWith('paginate')) calls.add(`${service}:${name.slice('paginate'.length)}`);
    else if (WAITERS[name]) calls.add(`${service}:${WAITERS[name]}`);
    else if (name.startsWith('waitUntil')) throw new Error(`sdkCalls: which action does ${name} poll? add it to WAITERS`);
  }
  if (/(?<!function\s+)\b(?:tagSpecifications|applyTags)\s*\(/.test(source)) calls.add('ec2:CreateTags');
  if (/new\s+CreateTableCommand\s*\(\s*\{[^]*?\bTags\s*:/.test(source)) calls.add('dynamodb:TagResource');
  return [...calls].sort();
}
