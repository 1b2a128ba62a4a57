// What the NATs' failover agent may do, as an IAM role, its inline policy and an instance profile
// that dupsworks owns (unless the spec names an instance profile of its own). Least privilege:
//
//   - read the stack: ec2:DescribeInstances, ec2:DescribeInstanceStatus, ec2:DescribeRouteTables
//     (describes take no resource, so on "*");
//   - move a route and say so: ec2:ReplaceRoute and ec2:CreateTags only on route tables carrying
//     this stack's tag, and CreateTags only of the agent's own tag keys;
//   - mark a peer it watched: ec2:CreateTags of its health tags only, on instances carrying this
//     stack's tag;
//   - with failover.snsTopicArn: sns:Publish to that topic only.
//
// The README ("Permissions of the NATs") states the same policy for users who bring their own, and
// `dupsworks iam-policy --for agent` prints it.

import { STACK_TAG } from '../aws/tags.js';
import { AGENT_TAGS } from '../nat/tags.js';
import { ref, type Ref } from '../planner/values.js';
import type { AnyDesired } from '../resources/index.js';
import { iamInstanceProfile } from '../resources/iam-instance-profile.js';
import { iamRolePolicy } from '../resources/iam-role-policy.js';
import { iamRole } from '../resources/iam-role.js';
import type { PolicyDocument } from '../iam/policy.js';
import { failoverOf } from '../spec/defaults.js';
import type { Spec } from '../spec/types.js';

export function natRole(spec: Spec): { resources: AnyDesired[]; instanceProfileArn: Ref } {
  const role = iamRole.desire(
    { purpose: 'nat' },
    {
      assumeRolePolicy: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: ec2Principal(spec.region) }, Action: 'sts:AssumeRole' }],
      },
      description: `dupsworks stack ${spec.name}: the NATs' failover agent`,
      tags: { Name: `${spec.vpc.name}-nat-role` },
    },
  );
  const policy = iamRolePolicy.desire({ purpose: 'nat' }, { roleName: ref(role.id, 'name'), policyDocument: natPolicy(spec) });
  const profile = iamInstanceProfile.desire(
    { purpose: 'nat' },
    { roleName: ref(role.id, 'name'), tags: { Name: `${spec.vpc.name}-nat-profile` } },
  );
  return { resources: [role, policy, profile], instanceProfileArn: ref(profile.id, 'arn') };
}

/** The agent's permissions, for the role dupsworks makes and for the README's users. */
export function natPolicy(spec: Pick<Spec, 'name' | 'region' | 'failover'>): PolicyDocument {
  const arn = (resource: string) => `arn:${partitionOf(spec.region)}:ec2:${spec.region}:*:${resource}`;
  const ofTheStack = { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: spec.name } };
  const topic = failoverOf(spec).snsTopicArn;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadTheStack',
        Effect: 'Allow',
        Action: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeRouteTables'],
        Resource: '*',
      },
      { Sid: 'MoveTheStacksRoutes', Effect: 'Allow', Action: ['ec2:ReplaceRoute'], Resource: arn('route-table/*'), Condition: ofTheStack },
      {
        Sid: 'SayWhoServesARouteTable',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: arn('route-table/*'),
        Condition: { ...ofTheStack, 'ForAllValues:StringEquals': { 'aws:TagKeys': [...AGENT_TAGS.routeTable] } },
      },
      {
        Sid: 'SayAPeerIsHealthy',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: arn('instance/*'),
        Condition: { ...ofTheStack, 'ForAllValues:StringEquals': { 'aws:TagKeys': [...AGENT_TAGS.instance] } },
      },
      ...(topic ? [{ Sid: 'NotifyOfASwitch', Effect: 'Allow' as const, Action: ['sns:Publish'], Resource: topic }] : []),
    ],
  };
}

/** The ARN partition of a region: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  return 'aws';
}

// AWS's China regions name the EC2 service principal with their own domain.
function ec2Principal(region: string): string {
  return partitionOf(region) === 'aws-cn' ? 'ec2.amazonaws.com.cn' : 'ec2.amazonaws.com';
}
