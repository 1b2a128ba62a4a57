// The OpsWorks mode's desired resources: the custom JSON against the original's, and
// the order the original's chicken-and-egg needs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSteps } from '../../src/planner/graph.js';
import { dependencyOrder, makePlan } from '../../src/planner/plan.js';
import { resolve, type Ref } from '../../src/planner/values.js';
import { kindsFor } from '../../src/resources/index.js';
import { parseSpec } from '../../src/spec/load.js';
import type { Spec } from '../../src/spec/types.js';
import { desiredResources } from '../../src/topology/index.js';
import { ROOT } from '../support/cli.js';

function example(): Spec {
  const file = join(ROOT, 'examples/ha-nat-opsworks.yaml');
  const loaded = parseSpec(readFileSync(file, 'utf8'), file);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.problems));
  return loaded.spec;
}

/** The custom JSON the spec's stack is given (the deployment runs with the same value). */
function vpcnatCustomJson(spec: Spec) {
  const resource = desiredResources(spec).find((r) => r.kind === 'opsworks-custom-json');
  assert.ok(resource, 'the spec has a custom JSON');
  return resource.props.customJson;
}

// Stand-ins for what only exists after apply: the NATs' EC2 ids and the route tables' ids.
const fakeIds = (r: Ref) => {
  const nat = /^opsworks\/instance\/nat-(.+)$/.exec(r.$ref);
  if (nat && r.output === 'ec2InstanceId') return `<EC2 id of NAT in ${nat[1]}>`;
  const table = /^route-table\/private\/(.+)$/.exec(r.$ref);
  if (table) return `<private route table of ${table[1]}>`;
  throw new Error(`unexpected reference ${r.$ref}.${r.output}`);
};

describe('the vpcnat custom JSON', () => {
  it('is exactly the shape the vpcnat cookbook reads (golden: the example of the original), key order included', () => {
    const json = resolve(vpcnatCustomJson(example()), fakeIds) as { vpcnat: unknown; awscli: unknown };
    const golden =
      '{"ipmasq_src":"10.0.0.0/16",' +
      '"az":{"ap-northeast-1c":{"enabled":1,"target_via_checking_nat":"8.8.4.4","target_via_inetgw":"google.co.jp",' +
      '"opposite_primary_nat_id":"<EC2 id of NAT in ap-northeast-1a>","opposite_rtb":"<private route table of ap-northeast-1a>"},' +
      '"ap-northeast-1a":{"enabled":1,"target_via_checking_nat":"8.8.8.8","target_via_inetgw":"google.co.jp",' +
      '"opposite_primary_nat_id":"<EC2 id of NAT in ap-northeast-1c>","opposite_rtb":"<private route table of ap-northeast-1c>"}}}';
    assert.equal(JSON.stringify(json.vpcnat), golden);
    assert.deepEqual(json.awscli, { region: 'ap-northeast-1', version: '1.5.1' });
  });

  it('is ring-wired for three zones: zone i names zone (i+1) mod 3', () => {
    const spec = example();
    spec.zones.push({
      ...spec.zones[0]!,
      availabilityZone: 'ap-northeast-1d',
      heartbeat: { viaPeer: '1.1.1.1', viaInternetGateway: 'google.co.jp' },
    });
    const az = (resolve(vpcnatCustomJson(spec), fakeIds) as { vpcnat: { az: Record<string, { opposite_primary_nat_id: string }> } }).vpcnat
      .az;
    assert.deepEqual(
      Object.entries(az).map(([zone, v]) => [zone, v.opposite_primary_nat_id]),
      [
        ['ap-northeast-1c', '<EC2 id of NAT in ap-northeast-1a>'],
        ['ap-northeast-1a', '<EC2 id of NAT in ap-northeast-1d>'],
        ['ap-northeast-1d', '<EC2 id of NAT in ap-northeast-1c>'],
      ],
    );
  });
});

describe('the OpsWorks build order', () => {
  it('starts instances only once OpsWorks made its groups, writes the custom JSON and routes after the NATs, deploys last', async () => {
    const spec = example();
    const desired = desiredResources(spec);
    assert.doesNotThrow(() => dependencyOrder(desired));
    const plan = await makePlan({ desired, observed: [], kinds: kindsFor({ opsworks: true }), ctx: {} as never });
    const steps = new Map(buildSteps(plan).map((s) => [s.change.id, s]));
    const before = (later: string, earlier: string) => {
      const seen = new Set<string>();
      const visit = (id: string): boolean => {
        if (id === earlier) return true;
        if (seen.has(id)) return false;
        seen.add(id);
        return steps.get(id)!.after.some((key) => visit(key.replace(/^(create|update):/, '')));
      };
      assert.ok(visit(later), `${later} should come after ${earlier}`);
    };
    before('opsworks/instance/nat-ap-northeast-1c', 'opsworks/security-group/AWS-OpsWorks-Custom-Server');
    before('opsworks/security-group/AWS-OpsWorks-Custom-Server', 'opsworks/stack');
    before('opsworks/custom-json', 'opsworks/instance/nat-ap-northeast-1a');
    before('opsworks/custom-json', 'opsworks/instance/nat-ap-northeast-1c');
    before('route/private/ap-northeast-1c/0.0.0.0/0', 'opsworks/instance/nat-ap-northeast-1c');
    before('route/public/ap-northeast-1c/8.8.4.4/32', 'opsworks/instance/nat-ap-northeast-1a');
    before('opsworks/deployment', 'opsworks/custom-json');
    assert.equal(plan.changes.find((c) => c.id === 'opsworks/instance/admin')!.desired!.props.running, false, 'the admin is not started');
  });
});
