import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { FAILOVER_DEFAULTS, OPSWORKS_DEFAULTS, withDefaults, type SpecInput } from '../../src/spec/defaults.js';
import { closest, formatProblem, loadSpecFile, parseSpec, type LoadResult } from '../../src/spec/load.js';
import { createSchemaAjv } from '../../src/spec/schema-ajv.js';
import { specSchemaPath } from '../../src/spec/schema.js';
import { checkRules, formatPath, type RuleContext } from '../../src/spec/rules.js';
import type { Spec } from '../../src/spec/types.js';

// A valid opsworks spec with only the required opsworks fields; tests change whole lines so that
// line numbers stay put. Value columns: manager 12, instanceType 17, serviceRoleArn 19,
// defaultInstanceProfileArn 30, url 10. Lines 27+ can be appended to opsworks.
const BASE = [
  /*  1 */ 'name: my-stack',
  /*  2 */ 'region: ap-northeast-1',
  /*  3 */ 'vpc:',
  /*  4 */ '  name: MyVPC',
  /*  5 */ '  cidr: 10.0.0.0/16',
  /*  6 */ 'zones:',
  /*  7 */ '  - availabilityZone: ap-northeast-1c',
  /*  8 */ '    publicSubnet: 10.0.0.0/24',
  /*  9 */ '    privateSubnet: 10.0.128.0/24',
  /* 10 */ '    heartbeat:',
  /* 11 */ '      viaPeer: 8.8.4.4',
  /* 12 */ '      viaInternetGateway: google.co.jp',
  /* 13 */ '  - availabilityZone: ap-northeast-1a',
  /* 14 */ '    publicSubnet: 10.0.1.0/24',
  /* 15 */ '    privateSubnet: 10.0.129.0/24',
  /* 16 */ '    heartbeat:',
  /* 17 */ '      viaPeer: 8.8.8.8',
  /* 18 */ '      viaInternetGateway: google.co.jp',
  /* 19 */ 'nat:',
  /* 20 */ '  manager: opsworks',
  /* 21 */ '  instanceType: t2.micro',
  /* 22 */ 'opsworks:',
  /* 23 */ '  serviceRoleArn: arn:aws:iam::123456789012:role/aws-opsworks-service-role',
  /* 24 */ '  defaultInstanceProfileArn: arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
  /* 25 */ '  customCookbooks:',
  /* 26 */ '    url: https://github.com/example/dupsworks-cookbooks.git',
];
const NO_OPSWORKS = { 22: '', 23: '', 24: '', 25: '', 26: '' };

/** BASE with some lines replaced (1-based line number -> new text) and lines appended. */
function spec(changes: Record<number, string> = {}, ...appended: string[]): string {
  const lines = BASE.map((line, i) => changes[i + 1] ?? line);
  return [...lines, ...appended].join('\n') + '\n';
}

function problems(text: string): string[] {
  const result = parseSpec(text, 'x.yaml');
  return result.ok ? [] : result.problems.map(formatProblem);
}

function onlyProblem(text: string, expected: string): void {
  assert.deepEqual(problems(text), [expected]);
}

function assertOk(result: LoadResult): asserts result is Extract<LoadResult, { ok: true }> {
  assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), []);
}

/** A permission entry as YAML lines under opsworks.permissions. */
function permission(arn: string, level = 'manage'): string[] {
  return [`    - iamUserArn: ${arn}`, '      allowSsh: true', '      allowSudo: false', `      level: ${level}`];
}

const schemaFile = specSchemaPath();
const repoRoot = dirname(dirname(schemaFile));
type SchemaNode = Record<string, unknown>;
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as SchemaNode;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The subschema for a data path, e.g. ['opsworks', 'chef', 'version']. */
function schemaFor(path: string[]): SchemaNode {
  let node: SchemaNode = schema;
  for (const key of path) {
    const properties = node.properties;
    assert.ok(isRecord(properties) && isRecord(properties[key]), `no schema for ${path.join('.')}`);
    node = properties[key] as SchemaNode;
  }
  return node;
}

const EXPECTED_DEFAULTS: Spec['opsworks'] = {
  serviceRoleArn: 'arn:aws:iam::123456789012:role/aws-opsworks-service-role',
  defaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
  defaultOs: 'Amazon Linux 2018.03',
  defaultRootDeviceType: 'ebs',
  chef: { version: '11.10', manageBerkshelf: true, berkshelfVersion: '2.0.18' },
  customCookbooks: { url: 'https://github.com/example/dupsworks-cookbooks.git', revision: 'master' },
  layers: {
    admin: { packages: ['traceroute'], os: 'Ubuntu 12.04 LTS' },
    nat: { packages: ['traceroute', 'jq'], os: 'Amazon Linux 2018.03' },
  },
  admin: { instanceType: 't2.micro', start: false },
  permissions: [],
};

describe('the opsworks examples', () => {
  it('examples/ha-nat-opsworks.yaml validates, with the same network as ha-nat.yaml', async () => {
    const opsworks = await loadSpecFile(join(repoRoot, 'examples', 'ha-nat-opsworks.yaml'));
    const ec2 = await loadSpecFile(join(repoRoot, 'examples', 'ha-nat.yaml'));
    assertOk(opsworks);
    assertOk(ec2);
    assert.equal(opsworks.spec.name, 'my-opsworks-stack');
    assert.deepEqual(
      { region: opsworks.spec.region, vpc: opsworks.spec.vpc, zones: opsworks.spec.zones },
      { region: ec2.spec.region, vpc: ec2.spec.vpc, zones: ec2.spec.zones },
    );
    assert.deepEqual(opsworks.spec.nat, { manager: 'opsworks', instanceType: 't2.micro' });
    assert.deepEqual(opsworks.spec.opsworks, {
      ...EXPECTED_DEFAULTS,
      permissions: [{ iamUserArn: 'arn:aws:iam::123456789012:user/alice', allowSsh: true, allowSudo: true, level: 'manage' }],
      awscliVersion: '1.5.1',
    });
  });

  it('the ec2 example still validates, unchanged and without an opsworks section', async () => {
    const result = await loadSpecFile(join(repoRoot, 'examples', 'ha-nat.yaml'));
    assertOk(result);
    assert.equal(Object.hasOwn(result.spec, 'opsworks'), false);
    assert.deepEqual(result.spec.nat, { manager: 'ec2', instanceType: 't3.micro' });
  });

  it('the opsworks example passes the schema alone, as editors see it', () => {
    const validate = createSchemaAjv().compile(schema);
    const example = parse(readFileSync(join(repoRoot, 'examples', 'ha-nat-opsworks.yaml'), 'utf8')) as unknown;
    assert.equal(validate(example), true, JSON.stringify(validate.errors));
  });
});

describe('defaults', () => {
  it('parseSpec fills every optional opsworks field', () => {
    const result = parseSpec(spec(), 'x.yaml');
    assertOk(result);
    assert.deepEqual(result.spec.opsworks, EXPECTED_DEFAULTS);
  });

  it('keeps what the spec gives, and takes admin.instanceType from nat.instanceType only when absent', () => {
    const result = parseSpec(
      spec(
        { 21: '  instanceType: t3.small', 26: '    url: git@github.com:example/cookbooks.git' },
        '    revision: v1.2',
        '  defaultOs: Ubuntu 14.04 LTS',
        '  defaultRootDeviceType: instance-store',
        '  chef:',
        '    manageBerkshelf: false',
        '  layers:',
        '    nat:',
        '      packages: [jq]',
        '  admin:',
        '    start: true',
      ),
      'x.yaml',
    );
    assertOk(result);
    assert.deepEqual(result.spec.opsworks, {
      ...EXPECTED_DEFAULTS,
      defaultOs: 'Ubuntu 14.04 LTS',
      defaultRootDeviceType: 'instance-store',
      chef: { version: '11.10', manageBerkshelf: false, berkshelfVersion: '2.0.18' },
      customCookbooks: { url: 'git@github.com:example/cookbooks.git', revision: 'v1.2' },
      layers: { admin: EXPECTED_DEFAULTS!.layers.admin, nat: { packages: ['jq'], os: 'Amazon Linux 2018.03' } },
      admin: { instanceType: 't3.small', start: true },
    });
    const own = parseSpec(spec({}, '  admin:', '    instanceType: m5.large'), 'x.yaml');
    assertOk(own);
    assert.deepEqual(own.spec.opsworks?.admin, { instanceType: 'm5.large', start: false });
  });

  it('withDefaults is pure, idempotent, and gives an ec2 spec its failover defaults and nothing else', () => {
    const input: SpecInput = {
      name: 's',
      region: 'ap-northeast-1',
      vpc: { name: 'v', cidr: '10.0.0.0/16' },
      zones: [],
      nat: { manager: 'opsworks', instanceType: 't2.micro' },
      opsworks: { serviceRoleArn: 'r', defaultInstanceProfileArn: 'p', customCookbooks: { url: 'u' }, chef: { version: '12' } },
    };
    const before = structuredClone(input);
    const filled = withDefaults(input);
    assert.deepEqual(input, before, 'the input is not changed');
    assert.equal(filled.opsworks?.chef.version, '12');
    assert.deepEqual(withDefaults(filled), filled);

    // The result shares no array with the defaults: changing it changes nothing else.
    filled.opsworks!.layers.nat.packages.push('curl');
    filled.opsworks!.permissions.push({ iamUserArn: 'a', allowSsh: false, allowSudo: false, level: 'show' });
    assert.deepEqual(OPSWORKS_DEFAULTS.layers.nat.packages, ['traceroute', 'jq']);
    assert.deepEqual(withDefaults(input).opsworks?.layers.nat.packages, ['traceroute', 'jq']);
    assert.deepEqual(withDefaults(input).opsworks?.permissions, []);
    assert.ok(Object.isFrozen(OPSWORKS_DEFAULTS.layers.nat.packages));

    const { opsworks: _, ...ec2 }: SpecInput = { ...before, nat: { manager: 'ec2', instanceType: 't3.micro' } };
    assert.deepEqual(withDefaults(ec2), { ...ec2, failover: { ...FAILOVER_DEFAULTS } });
    assert.deepEqual(withDefaults(withDefaults(ec2)), withDefaults(ec2));
    assert.equal(Object.hasOwn(withDefaults(ec2), 'opsworks'), false);
    const own = withDefaults({ ...ec2, failover: { failAfter: 5, snsTopicArn: 'arn:aws:sns:ap-northeast-1:123456789012:t' } });
    assert.deepEqual(own.failover, { ...FAILOVER_DEFAULTS, failAfter: 5, snsTopicArn: 'arn:aws:sns:ap-northeast-1:123456789012:t' });
  });

  it("the schema's default annotations show the same values as OPSWORKS_DEFAULTS", () => {
    // Every default in the schema's opsworks section equals the value at the same path...
    const annotated: string[] = [];
    const walk = (node: SchemaNode, path: string[]): void => {
      if (Object.hasOwn(node, 'default')) {
        annotated.push(path.join('.'));
        let expected: unknown = OPSWORKS_DEFAULTS;
        for (const key of path) expected = isRecord(expected) ? expected[key] : undefined;
        assert.deepEqual(node.default, expected, `opsworks.${path.join('.')}`);
      }
      if (isRecord(node.properties)) {
        for (const [key, child] of Object.entries(node.properties)) walk(child as SchemaNode, [...path, key]);
      }
    };
    walk(schemaFor(['opsworks']), []);

    // ...and every default value has its annotation.
    const leaves = (value: unknown, path: string[]): string[] =>
      isRecord(value) ? Object.entries(value).flatMap(([key, child]) => leaves(child, [...path, key])) : [path.join('.')];
    for (const leaf of leaves(OPSWORKS_DEFAULTS, [])) assert.ok(annotated.includes(leaf), `opsworks.${leaf} has no schema default`);

    // admin.instanceType comes from nat.instanceType, so it has no fixed default.
    assert.equal(Object.hasOwn(schemaFor(['opsworks', 'admin', 'instanceType']), 'default'), false);
  });

  it('the OS enums are one list, holding the default OSes', () => {
    const defaultOs = schemaFor(['opsworks', 'defaultOs']).enum as string[];
    assert.deepEqual(schemaFor(['opsworks', 'layers', 'admin', 'os']).enum, defaultOs);
    assert.deepEqual(schemaFor(['opsworks', 'layers', 'nat', 'os']).enum, defaultOs);
    for (const os of [OPSWORKS_DEFAULTS.defaultOs, OPSWORKS_DEFAULTS.layers.admin.os, OPSWORKS_DEFAULTS.layers.nat.os]) {
      assert.ok(defaultOs.includes(os), os);
    }
  });
});

describe('the NAT manager and the opsworks section', () => {
  it('nat.manager opsworks needs an opsworks section', () => {
    onlyProblem(
      spec(NO_OPSWORKS),
      'x.yaml:20:12: nat.manager: is "opsworks" but the spec has no opsworks section; ' +
        'add one with at least serviceRoleArn, defaultInstanceProfileArn and customCookbooks.url',
    );
  });

  it('an opsworks section needs nat.manager opsworks', () => {
    onlyProblem(
      spec({ 20: '  manager: ec2' }),
      'x.yaml:22:1: opsworks: applies only with nat.manager: opsworks; remove it or set nat.manager to opsworks',
    );
  });

  it('an empty or malformed opsworks section gets one problem, from the schema', () => {
    onlyProblem(
      spec({ 23: '', 24: '', 25: '', 26: '' }),
      'x.yaml:22:1: opsworks: has no value; expected a mapping with the keys serviceRoleArn, defaultInstanceProfileArn, customCookbooks ' +
        '(optional: defaultOs, defaultRootDeviceType, chef, layers, admin, permissions, awscliVersion)',
    );
    assert.deepEqual(
      problems(spec({ 20: '  manager: ec2', 22: 'opsworks: 5', 23: '', 24: '', 25: '', 26: '' })).map((p) => p.split(': ')[0]),
      ['x.yaml:22:11'],
    );
  });

  it('nat.imageId and nat.instanceProfileArn are for ec2 only, reported at their keys; keyName is fine', () => {
    const message =
      "applies to nat.manager ec2 only; OpsWorks picks the image from the layer's os, and the instances use opsworks.defaultInstanceProfileArn";
    assert.deepEqual(
      problems(
        spec({
          21: [
            '  instanceType: t2.micro',
            '  imageId: ami-0123456789abcdef0',
            '  keyName: my-key',
            '  instanceProfileArn: arn:aws:iam::123456789012:instance-profile/nat',
          ].join('\n'),
        }),
      ),
      [`x.yaml:22:3: nat.imageId: ${message}`, `x.yaml:24:3: nat.instanceProfileArn: ${message}`],
    );
    assertOk(parseSpec(spec({ 21: '  instanceType: t2.micro\n  keyName: my-key' }), 'x.yaml'));
  });

  it('a malformed nat.imageId with opsworks gets only its schema problem', () => {
    assert.deepEqual(
      problems(spec({ 21: '  instanceType: t2.micro\n  imageId: ami-1' })).map((p) => p.split(': ').slice(0, 2).join(': ')),
      ['x.yaml:22:12: nat.imageId'],
    );
  });
});

describe('opsworks fields (JSON Schema)', () => {
  it('reports missing required fields', () => {
    onlyProblem(
      spec({ 23: '' }),
      'x.yaml:24:3: opsworks.serviceRoleArn: is required but missing; ' +
        'add it, such as "serviceRoleArn: arn:aws:iam::123456789012:role/aws-opsworks-service-role"',
    );
    onlyProblem(
      spec({ 25: '', 26: '' }),
      'x.yaml:23:3: opsworks.customCookbooks: is required but missing; add "customCookbooks:" as a mapping with the keys url (optional: revision)',
    );
    onlyProblem(
      spec({ 26: '    revision: main' }),
      'x.yaml:26:5: opsworks.customCookbooks.url: is required but missing; ' +
        'add it, such as "url: https://github.com/example/dupsworks-cookbooks.git"',
    );
  });

  it('suggests the key meant, and does not also report it missing', () => {
    onlyProblem(
      spec({ 23: '  serviceRole: arn:aws:iam::123456789012:role/aws-opsworks-service-role' }),
      'x.yaml:23:3: opsworks.serviceRole: "serviceRole" is not a known key; did you mean "serviceRoleArn"? ' +
        '(allowed in opsworks: serviceRoleArn, defaultInstanceProfileArn, defaultOs, defaultRootDeviceType, chef, customCookbooks, ' +
        'layers, admin, permissions, awscliVersion)',
    );
  });

  it('checks the ARNs', () => {
    onlyProblem(
      spec({ 23: '  serviceRoleArn: arn:aws:iam::123456789012:instance-profile/x' }),
      'x.yaml:23:19: opsworks.serviceRoleArn: "arn:aws:iam::123456789012:instance-profile/x" is not a valid OpsWorks service role ARN; ' +
        'use an IAM role ARN, such as arn:aws:iam::123456789012:role/aws-opsworks-service-role',
    );
    onlyProblem(
      spec({ 24: '  defaultInstanceProfileArn: arn:aws:iam::123456789012:role/x' }),
      'x.yaml:24:30: opsworks.defaultInstanceProfileArn: "arn:aws:iam::123456789012:role/x" is not a valid default IAM instance profile ARN; ' +
        'use an IAM instance profile ARN, such as arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
    );
    onlyProblem(
      spec({}, '  permissions:', ...permission('arn:aws:iam::123456789012:role/bob')),
      'x.yaml:28:19: opsworks.permissions[0].iamUserArn: "arn:aws:iam::123456789012:role/bob" is not a valid IAM user ARN; ' +
        'use an IAM user ARN, such as arn:aws:iam::123456789012:user/alice',
    );
    assertOk(
      parseSpec(
        spec(
          { 23: '  serviceRoleArn: arn:aws-cn:iam::123456789012:role/service-role/opsworks' },
          '  permissions:',
          ...permission('arn:aws:iam::123456789012:user/division/team/bob.smith@example.com'),
        ),
        'x.yaml',
      ),
    );
  });

  it('checks the cookbook URL: http(s), ssh, git or scp-like', () => {
    for (const url of [
      'https://github.com/example/cookbooks.git',
      'http://git.example.com/cookbooks',
      'ssh://git@github.com:22/example/cookbooks.git',
      'git://github.com/example/cookbooks.git',
      'git@github.com:example/cookbooks.git',
    ]) {
      assertOk(parseSpec(spec({ 26: `    url: ${url}` }), 'x.yaml'));
    }
    for (const url of ['github.com/example/cookbooks', 'ftp://example.com/cookbooks.tgz', 'https://exa mple.com/x']) {
      onlyProblem(
        spec({ 26: `    url: ${url}` }),
        `x.yaml:26:10: opsworks.customCookbooks.url: ${JSON.stringify(url)} is not a valid cookbook repository URL; ` +
          'use a git URL, such as https://github.com/example/dupsworks-cookbooks.git or git@github.com:example/dupsworks-cookbooks.git',
      );
    }
  });

  it('says to quote a version that YAML read as a number', () => {
    onlyProblem(
      spec({}, '  chef:', '    version: 11.10'),
      'x.yaml:28:14: opsworks.chef.version: is a number (11.1), because YAML reads 11.10 unquoted as a number; write it quoted: "11.10"',
    );
    onlyProblem(
      spec({}, '  chef:', '    berkshelfVersion: 2.0'),
      'x.yaml:28:23: opsworks.chef.berkshelfVersion: is a number (2), because YAML reads 2.0 unquoted as a number; write it quoted: "2.0"',
    );
    onlyProblem(
      spec({}, '  awscliVersion: 1.5'),
      'x.yaml:27:18: opsworks.awscliVersion: is a number (1.5), because YAML reads 1.5 unquoted as a number; write it quoted: "1.5"',
    );
    // Quoted, or with two dots (a string already), they are fine.
    assertOk(parseSpec(spec({}, '  chef:', '    version: "11.10"', "    berkshelfVersion: '3.2'", '  awscliVersion: 1.5.1'), 'x.yaml'));
    // When quoting would not help, the usual message.
    onlyProblem(
      spec({}, '  chef:', '    version: 11.x'),
      'x.yaml:28:14: opsworks.chef.version: "11.x" is not a valid version of Chef; ' +
        'write a version: numbers separated by dots, quoted, such as "11.10"',
    );
    onlyProblem(
      spec({}, '  chef:', '    version: true'),
      'x.yaml:28:14: opsworks.chef.version: is a boolean (true); expected a string, such as 11.10',
    );
  });

  it('says true or false for a boolean', () => {
    onlyProblem(
      spec({}, '  chef:', '    manageBerkshelf: "yes"'),
      'x.yaml:28:22: opsworks.chef.manageBerkshelf: is a string ("yes"); expected true or false',
    );
    onlyProblem(spec({}, '  admin:', '    start: no'), 'x.yaml:28:12: opsworks.admin.start: is a string ("no"); expected true or false');
  });

  it('checks enums, suggesting the closest name', () => {
    onlyProblem(
      spec({}, '  layers:', '    admin:', '      os: Ubuntu 12.04'),
      'x.yaml:29:11: opsworks.layers.admin.os: "Ubuntu 12.04" is not a supported layer OS; did you mean "Ubuntu 12.04 LTS"?',
    );
    onlyProblem(
      spec({}, '  defaultOs: amazon linux 2018.03'),
      'x.yaml:27:14: opsworks.defaultOs: "amazon linux 2018.03" is not a supported default OS; did you mean "Amazon Linux 2018.03"?',
    );
    onlyProblem(
      spec({}, '  defaultRootDeviceType: EBS'),
      'x.yaml:27:26: opsworks.defaultRootDeviceType: "EBS" is not a supported root device type; did you mean "ebs"?',
    );
    onlyProblem(
      spec({}, '  permissions:', ...permission('arn:aws:iam::123456789012:user/alice', 'admin')),
      'x.yaml:31:14: opsworks.permissions[0].level: "admin" is not a supported permission level; ' +
        'use one of "deny", "show", "deploy", "manage", "iam_only"',
    );
    const [ambiguous] = problems(spec({}, '  defaultOs: Ubuntu'));
    assert.match(
      ambiguous ?? '',
      /^x\.yaml:27:14: opsworks\.defaultOs: "Ubuntu" is not a supported default OS; use one of "Amazon Linux 2", /,
    );
  });

  it('checks package names and permission fields', () => {
    onlyProblem(
      spec({}, '  layers:', '    nat:', '      packages: [jq, JQ]'),
      'x.yaml:29:22: opsworks.layers.nat.packages[1]: "JQ" is not a valid package name; ' +
        'use a package name: lowercase letters, digits and . + _ -, starting with a letter or digit, such as jq',
    );
    assertOk(parseSpec(spec({}, '  layers:', '    nat:', '      packages: [libstdc++6, python3.8, ca-certificates, g_x]'), 'x.yaml'));
    onlyProblem(
      spec({}, '  permissions:', '    - iamUserArn: arn:aws:iam::123456789012:user/alice', '      allowSsh: true', '      allowSudo: true'),
      'x.yaml:28:7: opsworks.permissions[0].level: is required but missing; add it, such as "level: manage"',
    );
  });
});

describe('repeats in the opsworks section', () => {
  it('reports a repeated package at the repeat, naming the first', () => {
    assert.deepEqual(problems(spec({}, '  layers:', '    admin:', '      packages: [traceroute, jq, traceroute, jq]')), [
      'x.yaml:29:34: opsworks.layers.admin.packages[2]: traceroute is already opsworks.layers.admin.packages[0]; list each package once',
      'x.yaml:29:46: opsworks.layers.admin.packages[3]: jq is already opsworks.layers.admin.packages[1]; list each package once',
    ]);
    // The same package in both layers is fine.
    assertOk(parseSpec(spec({}, '  layers:', '    admin:', '      packages: [jq]', '    nat:', '      packages: [jq]'), 'x.yaml'));
  });

  it('reports a repeated IAM user, also when only the case or path of its name differs', () => {
    const fix = 'give each IAM user a single entry, with its allowSsh, allowSudo and level';
    assert.deepEqual(
      problems(
        spec(
          {},
          '  permissions:',
          ...permission('arn:aws:iam::123456789012:user/alice'),
          ...permission('arn:aws:iam::123456789012:user/bob'),
          ...permission('arn:aws:iam::123456789012:user/alice', 'show'),
          ...permission('arn:aws:iam::123456789012:user/ops/Alice'),
          ...permission('arn:aws:iam::210987654321:user/alice'),
        ),
      ),
      [
        `x.yaml:36:19: opsworks.permissions[2].iamUserArn: arn:aws:iam::123456789012:user/alice is already opsworks.permissions[0].iamUserArn; ${fix}`,
        'x.yaml:40:19: opsworks.permissions[3].iamUserArn: arn:aws:iam::123456789012:user/ops/Alice is the same IAM user as ' +
          'opsworks.permissions[0].iamUserArn (arn:aws:iam::123456789012:user/alice), since IAM user names are unique in an account ' +
          `whatever their case or path; ${fix}`,
      ],
    );
  });
});

describe('a permission that grants nothing', () => {
  it('is refused: OpsWorks reads it back as no permission at all', () => {
    onlyProblem(
      spec(
        {},
        '  permissions:',
        '    - iamUserArn: arn:aws:iam::123456789012:user/alice',
        '      allowSsh: false',
        '      allowSudo: false',
        '      level: deny',
      ),
      'x.yaml:28:7: opsworks.permissions[0]: grants nothing (no SSH, no sudo, level deny), which is the same as no entry; remove it',
    );
    // Denying the level while allowing SSH still grants something.
    assertOk(parseSpec(spec({}, '  permissions:', ...permission('arn:aws:iam::123456789012:user/alice', 'deny')), 'x.yaml'));
  });
});

describe('checkRules on opsworks data', () => {
  const data = {
    nat: { manager: 'opsworks', instanceType: 't2.micro', imageId: 'ami-0123456789abcdef0' },
    opsworks: {
      layers: { admin: { packages: ['a', 'a'] }, nat: { packages: ['b', 'b'] } },
      permissions: [{ iamUserArn: 'arn:aws:iam::123456789012:user/x' }, { iamUserArn: 'arn:aws:iam::123456789012:user/x' }],
    },
  };
  const allPassed: RuleContext = { region: 'ap-northeast-1', regionOverridden: false, passedSchema: () => true };

  it('reports each rule once, pointing at the key for a field that should not be there', () => {
    assert.deepEqual(
      checkRules(data, allPassed).map((p) => [formatPath(p.path), p.target ?? 'value']),
      [
        ['nat.imageId', 'key'],
        ['opsworks.permissions[1].iamUserArn', 'value'],
        ['opsworks.layers.admin.packages[1]', 'value'],
        ['opsworks.layers.nat.packages[1]', 'value'],
      ],
    );
    const ec2 = { ...data, nat: { manager: 'ec2', instanceType: 't3.micro' } };
    assert.deepEqual(
      checkRules(ec2, allPassed)
        .filter((p) => p.target === 'key')
        .map((p) => formatPath(p.path)),
      ['opsworks'],
    );
  });

  it('skips fields that failed the schema, and says nothing about the section when nat.manager failed', () => {
    const failed = new Set(['nat.manager', 'opsworks.permissions[1].iamUserArn', 'opsworks.layers.nat.packages[1]']);
    assert.deepEqual(
      checkRules(data, { ...allPassed, passedSchema: (path) => !failed.has(formatPath(path)) }).map((p) => formatPath(p.path)),
      ['opsworks.layers.admin.packages[1]'],
    );
  });

  it('survives malformed opsworks data', () => {
    for (const opsworks of [null, 5, 'x', [], { layers: 5 }, { layers: { nat: { packages: 'jq' } } }, { permissions: [null, 5, {}] }]) {
      const problems = checkRules({ nat: { manager: 'opsworks' }, opsworks }, allPassed);
      assert.deepEqual(problems, []);
    }
  });
});

describe('did-you-mean for long names', () => {
  const names = ['Ubuntu 12.04 LTS', 'Ubuntu 14.04 LTS', 'Amazon Linux 2', 'Amazon Linux 2018.03', 'Amazon Linux'];

  it('suggests the one name that starts with what was typed', () => {
    assert.equal(closest('Ubuntu 12.04', names), 'Ubuntu 12.04 LTS');
    assert.equal(closest('amazon linux 2018', names), 'Amazon Linux 2018.03');
    assert.equal(closest('Ubuntu', names), undefined, 'more than one starts with it');
    assert.equal(closest('cus', ['customCookbooks', 'chef']), 'customCookbooks');
    assert.equal(closest('ch', ['customCookbooks', 'chef']), undefined, 'too short to go by its start');
  });

  it('prefers a close edit to a longer name', () => {
    assert.equal(closest('Amazon Linux 2018.3', names), 'Amazon Linux 2018.03');
    assert.equal(closest('amazon linux', names), 'Amazon Linux');
  });
});
