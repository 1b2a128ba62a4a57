import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from '../../src/spec/load.js';
import { checkRules, formatPath, zoneIsInRegion, type RuleContext } from '../../src/spec/rules.js';

const data = {
  name: 'my-stack',
  region: 'ap-northeast-1',
  vpc: { name: 'MyVPC', cidr: '10.0.0.0/16' },
  zones: [
    {
      availabilityZone: 'ap-northeast-1c',
      publicSubnet: '10.1.0.0/24',
      privateSubnet: '10.0.128.0/24',
      heartbeat: { viaPeer: '8.8.4.4', viaInternetGateway: 'google.co.jp' },
    },
    {
      availabilityZone: 'ap-northeast-1c',
      publicSubnet: '10.0.1.0/24',
      privateSubnet: '10.0.128.0/24',
      heartbeat: { viaPeer: '8.8.4.4', viaInternetGateway: 'google.co.jp' },
    },
  ],
  nat: { manager: 'ec2', instanceType: 't3.micro' },
};

const allPassed: RuleContext = { region: 'ap-northeast-1', regionOverridden: false, passedSchema: () => true };

describe('checkRules', () => {
  it('reports one problem per broken field, by path', () => {
    assert.deepEqual(
      checkRules(data, allPassed).map((p) => formatPath(p.path)),
      ['zones[0].publicSubnet', 'zones[1].privateSubnet', 'zones[1].availabilityZone', 'zones[1].heartbeat.viaPeer'],
    );
  });

  it('skips fields that failed the schema', () => {
    const failed = new Set(['zones[0].publicSubnet', 'zones[1].availabilityZone', 'vpc.cidr']);
    const problems = checkRules(data, { ...allPassed, passedSchema: (path) => !failed.has(formatPath(path)) });
    assert.deepEqual(
      problems.map((p) => formatPath(p.path)),
      ['zones[1].privateSubnet', 'zones[1].heartbeat.viaPeer'],
    );
  });

  it('skips the region rule when no region is usable', () => {
    const moved = { ...data, zones: data.zones.map((zone, i) => ({ ...zone, availabilityZone: `us-east-1${'ab'[i]}` })) };
    assert.equal(
      checkRules(moved, { ...allPassed, region: undefined }).some((p) => p.path.includes('availabilityZone')),
      false,
    );
    assert.equal(checkRules(moved, allPassed).filter((p) => p.path.includes('availabilityZone')).length, 2);
  });

  it('survives malformed data', () => {
    for (const value of [null, 5, 'x', [], { zones: 'no' }, { zones: [null, 5, { heartbeat: 1 }] }, { vpc: [] }]) {
      assert.deepEqual(checkRules(value, allPassed), []);
    }
  });
});

describe('zoneIsInRegion', () => {
  it('accepts the region plus a letter, or the region, a hyphen and more', () => {
    assert.equal(zoneIsInRegion('ap-northeast-1c', 'ap-northeast-1'), true);
    assert.equal(zoneIsInRegion('us-west-2-lax-1a', 'us-west-2'), true);
    assert.equal(zoneIsInRegion('us-east-1-wl1-bos-wlz-1', 'us-east-1'), true);
    assert.equal(zoneIsInRegion('ap-northeast-1', 'ap-northeast-1'), false);
    assert.equal(zoneIsInRegion('ap-northeast-1cc', 'ap-northeast-1'), false);
    assert.equal(zoneIsInRegion('us-east-1a', 'us-east-2'), false);
    assert.equal(zoneIsInRegion('us-east-12a', 'us-east-1'), false);
  });
});

describe('formatPath', () => {
  it('writes a.b[1].c, quoting odd keys', () => {
    assert.equal(formatPath([]), '');
    assert.equal(formatPath(['zones', 1, 'heartbeat', 'viaPeer']), 'zones[1].heartbeat.viaPeer');
    assert.equal(formatPath(['nat', 'odd key']), 'nat["odd key"]');
  });
});

describe('did-you-mean', () => {
  it('counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('vcp', 'vpc'), 1);
    assert.equal(editDistance('cidr', 'cdir'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('abc', ''), 3);
    assert.equal(editDistance('abcd', 'badc'), 2, 'two swaps');
    assert.equal(editDistance('ca', 'abc'), 3, 'a swap never edits a substring twice');
  });

  it('suggests only close keys, ignoring case', () => {
    const keys = ['name', 'region', 'vpc', 'zones', 'nat'];
    assert.equal(closest('zone', keys), 'zones');
    assert.equal(closest('Region', keys), 'region');
    assert.equal(closest('regoin', keys), 'region');
    assert.equal(closest('a', keys), undefined);
    assert.equal(closest('colour', keys), undefined);
  });
});
