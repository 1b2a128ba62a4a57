// Logical ids have one definition: each kind's scheme. The topology asks the kind for a desired
// resource, and observe names what it finds with the same scheme, so renaming a scheme renames
// both sides at once and a built stack is still found whole.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { idScheme } from '../../src/planner/identity.js';
import { hasChanges, makePlan } from '../../src/planner/plan.js';
import type { Observed, SomeKind } from '../../src/planner/resource.js';
import { renderPlan } from '../../src/planner/render.js';
import type { AwsContext } from '../../src/aws/context.js';
import { kindsFor } from '../../src/resources/index.js';
import { withDefaults } from '../../src/spec/defaults.js';
import type { Spec } from '../../src/spec/types.js';
import { ROOT } from '../support/cli.js';
import { makeSpec } from './fixtures.js';
import { builtWorld } from './world.js';

function opsworksSpec(zones: 2 | 3): Spec {
  return withDefaults({
    ...makeSpec(zones, { manager: 'opsworks', instanceType: 't2.micro' }),
    opsworks: {
      serviceRoleArn: 'arn:aws:iam::123456789012:role/aws-opsworks-service-role',
      defaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
      customCookbooks: { url: 'https://github.com/example/dupsworks-cookbooks.git', revision: 'master' },
      permissions: [
        { iamUserArn: 'arn:aws:iam::123456789012:user/alice', allowSsh: true, allowSudo: true, level: 'manage' },
        { iamUserArn: 'arn:aws:iam::123456789012:user/ops/bob', allowSsh: true, allowSudo: false, level: 'show' },
      ],
    },
  });
}

const kinds = kindsFor({ opsworks: true });

async function observeAll(ctx: AwsContext): Promise<Observed[]> {
  return (await Promise.all([...kinds.values()].map((k) => k.observe(ctx)))).flat();
}

describe('idScheme', () => {
  it('names a key and reads the same key back', () => {
    const ids = idScheme('subnet', ['tier', 'availabilityZone']);
    assert.equal(ids.id({ tier: 'public', availabilityZone: 'ap-northeast-1c' }), 'subnet/public/ap-northeast-1c');
    assert.deepEqual(ids.parse('subnet/public/ap-northeast-1c'), { tier: 'public', availabilityZone: 'ap-northeast-1c' });
    const single = idScheme('opsworks/stack', []);
    assert.equal(single.id({}), 'opsworks/stack');
    assert.deepEqual(single.parse('opsworks/stack'), {});
  });

  it('lets only the last part hold "/" (a CIDR block, an IAM user path)', () => {
    const routes = idScheme('route', ['tier', 'availabilityZone', 'destination']);
    const key = { tier: 'public', availabilityZone: 'ap-northeast-1c', destination: '8.8.4.4/32' };
    assert.equal(routes.id(key), 'route/public/ap-northeast-1c/8.8.4.4/32');
    assert.deepEqual(routes.parse(routes.id(key)), key);
    assert.throws(() => routes.id({ ...key, tier: 'a/b' }), { message: /non-empty tier without "\/"/ });
    assert.throws(() => routes.id({ ...key, destination: '' }), { message: /non-empty destination/ });
  });

  it('reads nothing that is not its own: another namespace, a missing part, an empty part', () => {
    const ids = idScheme('route', ['tier', 'availabilityZone', 'destination']);
    for (const id of ['route-table/public/a', 'route/public/a', 'route/public//x', 'route', 'routes/public/a/x', 'subnet/public/a/b']) {
      assert.equal(ids.parse(id), undefined, id);
    }
    assert.equal(idScheme('vpc', []).parse('vpc/extra'), undefined);
  });
});

describe('one definition per id scheme', () => {
  const specs: [string, Spec][] = [
    ['ec2, 2 zones', makeSpec(2)],
    ['ec2, 3 zones', makeSpec(3, { imageId: 'ami-123', keyName: 'ops' })],
    ['ec2, Elastic IPs of its own', makeSpec(2, { elasticIps: true })],
    ['ec2, Elastic IPs reused', makeSpec(2, { elasticIps: ['eipalloc-0123456789abcdef0', 'eipalloc-0fedcba9876543210'] })],
    ['opsworks, 2 zones', opsworksSpec(2)],
    ['opsworks, 3 zones', opsworksSpec(3)],
  ];

  for (const [name, spec] of specs) {
    it(`names every desired resource in its own kind's scheme (${name})`, () => {
      for (const d of builtWorld(spec).desired) {
        const kind = kinds.get(d.kind) as SomeKind<AwsContext>;
        assert.ok(kind.ids.parse(d.id), `${d.id} is an id of ${d.kind}'s scheme`);
        for (const other of kinds.values()) {
          if (other !== kind) assert.equal(other.ids.parse(d.id), undefined, `${d.id} is not also an id of ${other.kind}`);
        }
      }
    });

    it(`finds, in the world a full apply leaves, exactly the ids the kinds' desire made: a no-op plan (${name})`, async () => {
      const world = builtWorld(spec);
      const observed = await observeAll(world.ctx);
      assert.deepEqual(
        observed.map((o) => `${o.kind} ${o.id}`).sort(),
        world.desired.map((d) => `${d.kind} ${d.id}`).sort(),
        'observe names each resource as desire did, once',
      );
      const plan = await makePlan({ desired: world.desired, observed, kinds, ctx: world.ctx });
      assert.equal(hasChanges(plan), false, renderPlan(plan));
    });
  }

  it('spells no logical id outside the kinds: no code of the engine but src/resources/ holds a string their schemes read', () => {
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    // The engine's code: everything but the kinds themselves, the spec (whose field names, "vpc"
    // for one, are no ids) and the OpsWorks emulator (a program of its own).
    const engine = sources(join(ROOT, 'src')).filter((f) => !/\/src\/(resources|spec|emulator)\//.test(f));
    assert.ok(engine.some((f) => f.endsWith('src/topology/network.ts')));
    const offenders: string[] = [];
    for (const file of engine) {
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const literal of code.match(/'[^'\n]*'|"[^"\n]*"|`[^`$\n]*`/g) ?? []) {
        const owner = [...kinds.values()].find((k) => k.ids.parse(literal.slice(1, -1)) !== undefined);
        if (owner) offenders.push(`${file.slice(ROOT.length + 1)}: ${literal} is an id of ${owner.kind}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
