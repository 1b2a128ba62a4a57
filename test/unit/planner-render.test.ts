import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planToJson } from '../../src/planner/json.js';
import type { Change, Plan } from '../../src/planner/plan.js';
import { colorStyle, formatValue, plainStyle, renderPlan, summaryLine } from '../../src/planner/render.js';
import { UNKNOWN } from '../../src/planner/values.js';
import type { AwsContext } from '../../src/aws/context.js';
import { hasChanges, makePlan } from '../../src/planner/plan.js';
import { kindsFor } from '../../src/resources/index.js';
import { desiredResources } from '../../src/topology/index.js';
import { makeSpec, observed, observedStack, routeObserved } from './fixtures.js';

// One change of every action, as makePlan would make them.
const noop: Change = {
  id: 'vpc',
  kind: 'vpc',
  action: 'no-op',
  planned: { cidrBlock: '10.0.0.0/16' },
  observed: observed('vpc', 'vpc', 'vpc-1', { cidrBlock: '10.0.0.0/16' }),
  attributes: [],
  dependsOn: [],
};
const create: Change = {
  id: 'subnet/a',
  kind: 'subnet',
  action: 'create',
  planned: { vpcId: 'vpc-1', cidrBlock: '10.0.0.0/24', tags: { Name: 'pub' } },
  preview: { vpcId: 'vpc-1', cidrBlock: '10.0.0.0/24', securityGroupIds: [UNKNOWN, 'sg-2'], tags: { Name: 'pub' } },
  attributes: [],
  dependsOn: ['vpc'],
};
const replace: Change = {
  id: 'nat/a',
  kind: 'nat-instance',
  action: 'replace',
  planned: { subnetId: 'subnet-1', instanceType: 't3.micro' },
  preview: { subnetId: 'subnet-1', instanceType: 't3.micro', imageId: 'ami-1' },
  observed: observed('nat/a', 'nat-instance', 'i-old', { state: 'shutting-down', instanceType: 't3.micro' }, { owned: false }),
  attributes: [
    { path: 'state', before: 'shutting-down', after: 'running', forcesReplacement: true, reason: 'instance is shutting-down' },
    { path: 'instanceType', before: 't3.micro', after: 't3.micro' },
  ],
  dependsOn: [],
};
const update: Change = {
  id: 'route/private/a/0.0.0.0/0',
  kind: 'route',
  action: 'update',
  planned: { routeTableId: 'rtb-1', destinationCidrBlock: '0.0.0.0/0', instanceId: UNKNOWN },
  observed: observed('route/private/a/0.0.0.0/0', 'route', 'rtb-1:0.0.0.0/0', { target: 'i-old' }),
  attributes: [{ path: 'target', before: 'i-old', after: UNKNOWN, reason: 'i-old is being replaced' }],
  dependsOn: ['nat/a'],
};
const destroy: Change = {
  id: 'security-group/nat~sg-2',
  kind: 'security-group',
  action: 'delete',
  observed: observed('security-group/nat', 'security-group', 'sg-2', { groupName: 'g' }),
  attributes: [],
  reason: 'duplicate of security-group/nat',
  dependsOn: [],
};
const plan: Plan = { changes: [noop, create, replace, update, destroy], unclaimed: [], stateHash: 'f00d' };

describe('renderPlan', () => {
  it('shows each change with its symbol, attributes and reasons, then the summary', () => {
    assert.equal(
      renderPlan(plan, plainStyle),
      [
        'dupsworks will perform the following actions (apply):',
        '',
        '  # subnet/a will be created',
        '  + subnet "subnet/a" {',
        '      + vpcId            = "vpc-1"',
        '      + cidrBlock        = "10.0.0.0/24"',
        '      + securityGroupIds = [(known after apply), "sg-2"]',
        '      + tags             = { Name = "pub" }',
        '    }',
        '',
        '  # nat/a must be replaced',
        '-/+ nat-instance "nat/a" {',
        '        id           = "i-old"',
        '      ~ state        = "shutting-down" -> "running" # forces replacement: instance is shutting-down',
        '      ~ instanceType = "t3.micro" -> "t3.micro"',
        '    }',
        '',
        '  # route/private/a/0.0.0.0/0 will be updated in-place',
        '  ~ route "route/private/a/0.0.0.0/0" {',
        '        id     = "rtb-1:0.0.0.0/0"',
        '      ~ target = "i-old" -> (known after apply) # i-old is being replaced',
        '    }',
        '',
        '  # security-group/nat~sg-2 will be destroyed (duplicate of security-group/nat)',
        '  - security-group "security-group/nat~sg-2" {',
        '      - id = "sg-2"',
        '    }',
        '',
        'Plan: 2 to add, 1 to change, 2 to destroy.',
        '',
      ].join('\n'),
    );
  });

  it('leaves no-op resources out', () => {
    const text = renderPlan(plan);
    assert.doesNotMatch(text, /# vpc /);
    assert.doesNotMatch(text, / vpc "vpc" \{/);
  });

  it('says "forces replacement" alone when there is no reason, and shows a reason alone', () => {
    const text = renderPlan({
      unclaimed: [],
      stateHash: '',
      changes: [
        {
          ...replace,
          attributes: [
            { path: 'subnetId', before: 'subnet-1', after: 'subnet-2', forcesReplacement: true },
            { path: 'state', before: 'stopped', after: 'running', reason: 'instance is stopped; it will be started' },
          ],
        },
      ],
    });
    assert.match(text, /~ subnetId = "subnet-1" -> "subnet-2" # forces replacement\n/);
    assert.match(text, /~ state {4}= "stopped" -> "running" # instance is stopped; it will be started\n/);
  });

  it('says "No changes." for a plan without changes', () => {
    const expected = 'No changes. The stack matches the spec.\n';
    assert.equal(renderPlan({ changes: [], unclaimed: [], stateHash: '' }), expected);
    assert.equal(renderPlan({ changes: [noop], unclaimed: [], stateHash: '' }), expected);
  });

  it('names the verb it was asked for', () => {
    assert.match(renderPlan(plan, plainStyle, 'destroy'), /^dupsworks will perform the following actions \(destroy\):\n/);
  });

  it('has no ANSI escapes in plainStyle, and colorStyle differs only by them', () => {
    const plain = renderPlan(plan, plainStyle);
    const color = renderPlan(plan, colorStyle);
    assert.doesNotMatch(plain, /\x1b/);
    assert.match(color, /\x1b\[31m-\x1b\[0m\/\x1b\[32m\+\x1b\[0m nat-instance/);
    // eslint-disable-next-line no-control-regex
    assert.equal(color.replace(/\x1b\[[0-9;]*m/g, ''), plain);
  });
});

describe('summaryLine and formatValue', () => {
  it('counts a replacement as one to add and one to destroy', () => {
    assert.equal(summaryLine({ changes: [replace], unclaimed: [], stateHash: '' }), 'Plan: 1 to add, 0 to change, 1 to destroy.');
    assert.equal(summaryLine({ changes: [noop], unclaimed: [], stateHash: '' }), 'Plan: 0 to add, 0 to change, 0 to destroy.');
  });

  it('formats values in the manner of Terraform', () => {
    assert.equal(formatValue(UNKNOWN), '(known after apply)');
    assert.equal(formatValue(undefined), 'null');
    assert.equal(formatValue(null), 'null');
    assert.equal(formatValue('a"b'), '"a\\"b"');
    assert.equal(formatValue(false), 'false');
    assert.equal(formatValue(3), '3');
    assert.equal(formatValue([]), '[]');
    assert.equal(
      formatValue({ Name: 'x', 'dupsworks:stack': 's', n: [1, UNKNOWN] }),
      '{ Name = "x", "dupsworks:stack" = "s", n = [1, (known after apply)] }',
    );
  });
});

describe('planToJson', () => {
  const json = planToJson(plan, 'dupsworks/aws');
  const byAddress = Object.fromEntries(json.resource_changes.map((r) => [r.address, r]));

  it('has Terraform-shaped resource changes with actions arrays, the summary and the state hash', () => {
    assert.equal(json.format_version, '1.0');
    assert.equal(json.state_hash, 'f00d');
    assert.deepEqual(json.summary, { add: 2, change: 1, destroy: 2 });
    assert.deepEqual(
      json.resource_changes.map((r) => [r.address, r.type, r.change.actions]),
      [
        ['vpc', 'vpc', ['no-op']],
        ['subnet/a', 'subnet', ['create']],
        ['nat/a', 'nat-instance', ['create', 'delete']],
        ['route/private/a/0.0.0.0/0', 'route', ['update']],
        ['security-group/nat~sg-2', 'security-group', ['delete']],
      ],
    );
  });

  it('shows before as the physical id and observed state, after as the preview or planned props', () => {
    assert.deepEqual(byAddress['vpc']!.change.before, { id: 'vpc-1', cidrBlock: '10.0.0.0/16' });
    assert.deepEqual(byAddress['vpc']!.change.after, { cidrBlock: '10.0.0.0/16' });
    assert.equal(byAddress['subnet/a']!.change.before, null);
    assert.deepEqual(byAddress['nat/a']!.change.after, { subnetId: 'subnet-1', instanceType: 't3.micro', imageId: 'ami-1' });
    assert.equal(byAddress['security-group/nat~sg-2']!.change.after, null);
    assert.deepEqual(byAddress['security-group/nat~sg-2']!.change.before, { id: 'sg-2', groupName: 'g' });
  });

  it('leaves unknown values out of after and marks them in after_unknown', () => {
    const created = byAddress['subnet/a']!.change;
    assert.deepEqual(created.after, { vpcId: 'vpc-1', cidrBlock: '10.0.0.0/24', securityGroupIds: [null, 'sg-2'], tags: { Name: 'pub' } });
    assert.deepEqual(created.after_unknown, { securityGroupIds: [true, false] });
    const updated = byAddress['route/private/a/0.0.0.0/0']!.change;
    assert.deepEqual(updated.after, { routeTableId: 'rtb-1', destinationCidrBlock: '0.0.0.0/0' });
    assert.deepEqual(updated.after_unknown, { instanceId: true });
    assert.deepEqual(byAddress['nat/a']!.change.after_unknown, {});
  });

  it('lists the attributes that force replacement in replace_paths, and every reason', () => {
    const replaced = byAddress['nat/a']!;
    assert.deepEqual(replaced.change.replace_paths, [['state']]);
    assert.deepEqual(replaced.reasons, [
      { path: 'state', reason: 'instance is shutting-down', forces_replacement: true },
      { path: 'instanceType' },
    ]);
    assert.equal('replace_paths' in byAddress['route/private/a/0.0.0.0/0']!.change, false);
    assert.deepEqual(byAddress['route/private/a/0.0.0.0/0']!.reasons, [{ path: 'target', reason: 'i-old is being replaced' }]);
    assert.equal('reasons' in byAddress['subnet/a']!, false);
    assert.equal(byAddress['security-group/nat~sg-2']!.reason, 'duplicate of security-group/nat');
  });

  it("carries Terraform's mode, name and provider_name, and its action_reason where one fits", () => {
    for (const r of json.resource_changes) {
      assert.equal(r.mode, 'managed');
      assert.equal(r.name, r.address);
      assert.equal(r.provider_name, 'dupsworks/aws');
    }
    assert.equal(byAddress['nat/a']!.action_reason, 'replace_because_cannot_update');
    // A duplicate is no case of Terraform's: only the words say it.
    assert.equal('action_reason' in byAddress['security-group/nat~sg-2']!, false);
    for (const address of ['vpc', 'subnet/a', 'route/private/a/0.0.0.0/0']) assert.equal('action_reason' in byAddress[address]!, false);

    const gone: Change = {
      id: 'security-group/old',
      kind: 'security-group',
      action: 'delete',
      observed: observed('security-group/old', 'security-group', 'sg-9', {}),
      attributes: [],
      reason: 'not in the spec',
      dependsOn: [],
    };
    const anew: Change = { ...create, id: 'nat/b', kind: 'nat-instance', reason: 'i-dead is terminated' };
    const normal = planToJson({ changes: [gone, anew], unclaimed: [], stateHash: '' }, 'dupsworks/aws');
    assert.equal(normal.resource_changes[0]!.action_reason, 'delete_because_no_resource_config');
    assert.equal(normal.resource_changes[0]!.reason, 'not in the spec');
    assert.equal('action_reason' in normal.resource_changes[1]!, false, 'a create has no reason code');
    assert.equal(normal.resource_changes[1]!.reason, 'i-dead is terminated');
    assert.equal('destroy' in normal, false);

    const destroying = planToJson(
      { changes: [{ ...gone, reason: undefined }], unclaimed: [], stateHash: '', destroy: true },
      'dupsworks/aws',
    );
    assert.equal(destroying.destroy, true);
    assert.equal('action_reason' in destroying.resource_changes[0]!, false, "a destroy plan's deletes need no reason");
  });

  it('survives a JSON round trip unchanged (it is the saved plan body)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  });
});

describe('planToJson after_unknown', () => {
  it('leaves fully known lists out of after_unknown, as it does fully known objects', () => {
    const created: Change = {
      id: 'security-group/nat',
      kind: 'security-group',
      action: 'create',
      planned: { vpcId: UNKNOWN, ingress: ['all 10.0.0.0/16'], tags: { Name: 'n' } },
      preview: { vpcId: UNKNOWN, ingress: ['all 10.0.0.0/16'], tags: { Name: 'n' } },
      attributes: [],
      dependsOn: ['vpc'],
    };
    assert.deepEqual(
      planToJson({ changes: [created], unclaimed: [], stateHash: '' }, 'dupsworks/aws').resource_changes[0]!.change.after_unknown,
      {
        vpcId: true,
      },
    );
  });
});

describe('a failover in the plan (real kinds)', () => {
  const ctx = { snapshot: { parameter: async () => 'ami-latest' } } as unknown as AwsContext;
  const want = desiredResources(makeSpec(2));
  const failedOver = (state: Partial<{ targetId: string; servedSince: string }>) =>
    observedStack(want).map((o) =>
      o.id === 'route/private/ap-northeast-1a/0.0.0.0/0'
        ? {
            ...o,
            state: { ...(routeObserved(o.id, 'rtb-private-ap-northeast-1a', '0.0.0.0/0', 'i-ap-northeast-1c').state as object), ...state },
          }
        : o,
    );

  it('says in words who serves the zone and since when, and is no change', async () => {
    const plan = await makePlan({
      desired: want,
      observed: failedOver({ targetId: 'nat/ap-northeast-1c', servedSince: '2026-03-01T12:03:10Z' }),
      kinds: kindsFor({ opsworks: false }),
      ctx,
    });
    assert.equal(hasChanges(plan), false);
    assert.equal(
      renderPlan(plan),
      'Note: as it should be, though not as the spec first made it (nothing to change):\n\n' +
        '  # route/private/ap-northeast-1a/0.0.0.0/0: private subnet of ap-northeast-1a is served by nat/ap-northeast-1c (i-ap-northeast-1c) since 2026-03-01 12:03:10 UTC (failover)\n\n' +
        'No changes. The stack matches the spec.\n',
    );
    const json = planToJson(plan, 'dupsworks/aws').resource_changes.find((c) => c.address === 'route/private/ap-northeast-1a/0.0.0.0/0')!;
    assert.deepEqual(json.change.actions, ['no-op']);
    assert.match(json.remark!, /is served by nat\/ap-northeast-1c/);
  });

  it('says so when the route table does not say since when', async () => {
    const plan = await makePlan({
      desired: want,
      observed: failedOver({ targetId: 'nat/ap-northeast-1c' }),
      kinds: kindsFor({ opsworks: false }),
      ctx,
    });
    assert.match(
      renderPlan(plan),
      /served by nat\/ap-northeast-1c \(i-ap-northeast-1c\) since a time its route table does not say \(failover\)/,
    );
  });
});
