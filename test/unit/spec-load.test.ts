import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatProblem,
  formatProblems,
  loadSpecFile,
  MAX_PROBLEMS_SHOWN,
  MAX_SPEC_BYTES,
  parseSpec,
  type LoadResult,
} from '../../src/spec/load.js';
import { specSchemaPath } from '../../src/spec/schema.js';
import { FAILOVER_DEFAULTS } from '../../src/spec/defaults.js';

// A valid spec; tests change whole lines so that line numbers stay put. Value columns:
//   name/region 7/9, vpc name/cidr 9, availabilityZone 23, publicSubnet 19, privateSubnet 20,
//   viaPeer 16, viaInternetGateway 27, manager 12, instanceType 17. Lines 22+ can be appended to nat.
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
  /* 20 */ '  manager: ec2',
  /* 21 */ '  instanceType: t3.micro',
];

/** BASE with some lines replaced (1-based line number -> new text) and lines appended. */
function spec(changes: Record<number, string> = {}, ...appended: string[]): string {
  const lines = BASE.map((line, i) => changes[i + 1] ?? line);
  return [...lines, ...appended].join('\n') + '\n';
}

function problems(text: string, options?: { region?: string }): string[] {
  const result = parseSpec(text, 'x.yaml', options);
  return result.ok ? [] : result.problems.map(formatProblem);
}

/** Asserts that the text has exactly one problem and that it reads as expected. */
function onlyProblem(text: string, expected: string, options?: { region?: string }): void {
  assert.deepEqual(problems(text, options), [expected]);
}

function assertOk(result: LoadResult): asserts result is Extract<LoadResult, { ok: true }> {
  assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), []);
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    assert.notEqual(parent, dir, 'package.json not found');
    dir = parent;
  }
  return dir;
}

describe('the canonical example', () => {
  it('examples/ha-nat-graviton.yaml validates: the ha-nat network on t4g.nano NATs with Elastic IPs', async () => {
    const result = await loadSpecFile(join(repoRoot(), 'examples', 'ha-nat-graviton.yaml'));
    assertOk(result);
    assert.deepEqual(result.spec.nat, { manager: 'ec2', instanceType: 't4g.nano', elasticIps: true });
    assert.equal(result.spec.zones.length, 2);
  });

  it('examples/ha-nat.yaml validates', async () => {
    const result = await loadSpecFile(join(repoRoot(), 'examples', 'ha-nat.yaml'));
    assertOk(result);
    assert.deepEqual(result.spec, {
      name: 'my-stack',
      region: 'ap-northeast-1',
      vpc: { name: 'MyVPC', cidr: '10.0.0.0/16' },
      zones: [
        {
          availabilityZone: 'ap-northeast-1c',
          publicSubnet: '10.0.0.0/24',
          privateSubnet: '10.0.128.0/24',
          heartbeat: { viaPeer: '8.8.4.4', viaInternetGateway: 'google.co.jp' },
        },
        {
          availabilityZone: 'ap-northeast-1a',
          publicSubnet: '10.0.1.0/24',
          privateSubnet: '10.0.129.0/24',
          heartbeat: { viaPeer: '8.8.8.8', viaInternetGateway: 'google.co.jp' },
        },
      ],
      nat: { manager: 'ec2', instanceType: 't3.micro' },
      failover: { probeIntervalMs: 100, failAfter: 15, recoverAfter: 30, holdDownSeconds: 60 },
    });
  });

  it('the test base spec validates, with every optional nat field too', () => {
    assertOk(parseSpec(spec(), 'x.yaml'));
    assertOk(
      parseSpec(
        spec(
          {},
          '  imageId: ami-0123456789abcdef0',
          '  keyName: my-key',
          '  instanceProfileArn: arn:aws:iam::123456789012:instance-profile/team/dupsworks-nat',
        ),
        'x.yaml',
      ),
    );
  });
});

describe('the failover section', () => {
  it('is optional, and each field has its default', () => {
    const result = parseSpec(
      spec({}, 'failover:', '  failAfter: 5', '  snsTopicArn: arn:aws:sns:ap-northeast-1:123456789012:nat-switch'),
      'x.yaml',
    );
    assertOk(result);
    assert.deepEqual(result.spec.failover, {
      probeIntervalMs: 100,
      failAfter: 5,
      recoverAfter: 30,
      holdDownSeconds: 60,
      snsTopicArn: 'arn:aws:sns:ap-northeast-1:123456789012:nat-switch',
    });
  });

  it('takes whole numbers in their ranges, one problem per field, naming the range', () => {
    assert.deepEqual(
      problems(
        spec(
          {},
          'failover:',
          '  probeIntervalMs: 20',
          '  failAfter: 2.5',
          '  recoverAfter: "5"',
          '  holdDownSeconds: 100000',
          '  snsTopicArn: arn:aws:sns:nowhere',
          '  colour: red',
        ),
      ),
      [
        'x.yaml:23:20: failover.probeIntervalMs: is 20, too small; give a whole number from 50 to 10000',
        'x.yaml:24:14: failover.failAfter: is a number (2.5); expected a whole number, such as 10',
        'x.yaml:25:17: failover.recoverAfter: is a string ("5"); expected a whole number, such as 20',
        'x.yaml:26:20: failover.holdDownSeconds: is 100000, too large; give a whole number from 0 to 86400',
        'x.yaml:27:16: failover.snsTopicArn: "arn:aws:sns:nowhere" is not a valid SNS topic ARN; use an SNS topic ARN, such as arn:aws:sns:ap-northeast-1:123456789012:nat-switch',
        'x.yaml:28:3: failover.colour: "colour" is not a known key; remove it (allowed in failover: probeIntervalMs, failAfter, recoverAfter, holdDownSeconds, snsTopicArn)',
      ],
    );
    onlyProblem(
      spec({}, 'failover:', '  failAfter: 1'),
      'x.yaml:23:14: failover.failAfter: is 1, too small; give a whole number from 3 to 100',
    );
    onlyProblem(
      spec({}, 'failover: 3'),
      'x.yaml:22:11: failover: is a number (3); expected a mapping with the optional keys probeIntervalMs, failAfter, recoverAfter, holdDownSeconds, snsTopicArn',
    );
  });

  it("the schema's default annotations are FAILOVER_DEFAULTS", () => {
    const schema = JSON.parse(readFileSync(specSchemaPath(), 'utf8'));
    const section = schema.properties.failover;
    assert.deepEqual(section.default, FAILOVER_DEFAULTS);
    for (const [key, value] of Object.entries(FAILOVER_DEFAULTS)) assert.equal(section.properties[key].default, value, key);
  });

  it('refuses a FIFO topic, which takes no message without a group id', () => {
    onlyProblem(
      spec({}, 'failover:', '  snsTopicArn: arn:aws:sns:ap-northeast-1:123456789012:switch.fifo'),
      'x.yaml:23:16: failover.snsTopicArn: arn:aws:sns:ap-northeast-1:123456789012:switch.fifo is a FIFO topic, which refuses a message without a message group id; name a standard topic, such as arn:aws:sns:ap-northeast-1:123456789012:switch',
    );
  });
});

describe('formatProblem', () => {
  it('writes file:line:column: path: message, leaving out an empty path', () => {
    const problem = { file: 'examples/x.yaml', line: 12, column: 7, path: 'zones[1].publicSubnet', message: 'bad; good' };
    assert.equal(formatProblem(problem), 'examples/x.yaml:12:7: zones[1].publicSubnet: bad; good');
    assert.equal(formatProblem({ ...problem, path: '' }), 'examples/x.yaml:12:7: bad; good');
  });
});

describe('loadSpecFile', () => {
  it('reports an unreadable file as one problem at 1:1', async () => {
    const file = join(repoRoot(), 'examples', 'does-not-exist.yaml');
    assert.deepEqual(await loadSpecFile(file), {
      ok: false,
      problems: [{ file, line: 1, column: 1, path: '', message: 'cannot read the file: it does not exist; check the path' }],
    });
  });

  it('reports a directory as one problem at 1:1', async () => {
    const result = await loadSpecFile(join(repoRoot(), 'examples'));
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.problems.length, 1);
    assert.match(!result.ok ? formatProblem(result.problems[0]!) : '', /examples:1:1: cannot read the file: it is a directory/);
  });
});

describe('YAML problems', () => {
  it('reports syntax errors where the parser found them', () => {
    onlyProblem(
      'name: my-stack\nregion: [ap-northeast-1\nvpc:\n  name: x\n',
      'x.yaml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]; fix the syntax here',
    );
    onlyProblem(
      'vpc:\n  name: a\n cidr: b\n',
      'x.yaml:3:1: invalid YAML: All mapping items must start at the same column; fix the syntax here',
    );
    onlyProblem('\tname: x\n', 'x.yaml:1:1: invalid YAML: Tabs are not allowed as indentation; fix the syntax here');
  });

  it('reports one problem when the parser reports the same spot twice', () => {
    assert.equal(problems('a: b: c\n').length, 1);
  });

  it('reports duplicate keys at the second one', () => {
    onlyProblem(
      spec({}, '  instanceType: t3.small'),
      'x.yaml:22:3: nat.instanceType: duplicate key "instanceType" (first at line 21); keep only one of them',
    );
  });

  it('reports an empty document', () => {
    const expected =
      'x.yaml:1:1: the file holds no spec; write a mapping with the keys name, region, vpc, zones, nat (optional: failover, opsworks)';
    onlyProblem('', expected);
    onlyProblem('# just a comment\n', expected);
    onlyProblem('---\n', expected);
    onlyProblem('~\n', expected);
  });

  it('reports a document that is not a mapping', () => {
    onlyProblem(
      '- a\n- b\n',
      'x.yaml:1:1: the document is a list; a spec is a mapping with the keys name, region, vpc, zones, nat (optional: failover, opsworks)',
    );
    onlyProblem(
      'just text\n',
      'x.yaml:1:1: the document is a single string ("just text"); a spec is a mapping with the keys name, region, vpc, zones, nat (optional: failover, opsworks)',
    );
  });

  it('reports a second document', () => {
    onlyProblem(
      spec({}, '---', 'name: other'),
      'x.yaml:23:1: the file holds 2 YAML documents; keep one spec per file and remove the others',
    );
  });
});

describe('structure (JSON Schema)', () => {
  it('reports an unknown key at the key, suggesting a close one (and not also the missing one)', () => {
    onlyProblem(
      spec({ 5: '  cdir: 10.0.0.0/16' }),
      'x.yaml:5:3: vpc.cdir: "cdir" is not a known key; did you mean "cidr"? (allowed in vpc: name, cidr)',
    );
    onlyProblem(
      spec({ 3: 'vcp:' }),
      'x.yaml:3:1: vcp: "vcp" is not a known key; did you mean "vpc"? (allowed at the top level: name, region, vpc, zones, nat, failover, opsworks)',
    );
    onlyProblem(
      spec({}, '  keyname: my-key'),
      'x.yaml:22:3: nat.keyname: "keyname" is not a known key; did you mean "keyName"? ' +
        '(allowed in nat: manager, instanceType, imageId, keyName, instanceProfileArn, elasticIps)',
    );
  });

  it('reports an unknown key without a suggestion when none is close', () => {
    onlyProblem(
      spec({}, '  colour: blue'),
      'x.yaml:22:3: nat.colour: "colour" is not a known key; remove it ' +
        '(allowed in nat: manager, instanceType, imageId, keyName, instanceProfileArn, elasticIps)',
    );
    onlyProblem(
      'x: 1\n' + spec(),
      'x.yaml:1:1: x: "x" is not a known key; remove it (allowed at the top level: name, region, vpc, zones, nat, failover, opsworks)',
    );
  });

  it('reports a wrong type, saying what was expected', () => {
    onlyProblem(spec({ 21: '  instanceType: 5' }), 'x.yaml:21:17: nat.instanceType: is a number (5); expected a string, such as t3.micro');
    onlyProblem(
      spec({ 10: '    heartbeat: true', 11: '', 12: '' }),
      'x.yaml:10:16: zones[0].heartbeat: is a boolean (true); expected a mapping with the keys viaPeer, viaInternetGateway',
    );
    onlyProblem(
      spec({ 12: '      viaInternetGateway:' }),
      'x.yaml:12:7: zones[0].heartbeat.viaInternetGateway: has no value; expected a string, such as google.co.jp',
    );
  });

  it('reports a missing field at the mapping that lacks it', () => {
    onlyProblem(spec({ 11: '' }), 'x.yaml:12:7: zones[0].heartbeat.viaPeer: is required but missing; add it, such as "viaPeer: 8.8.4.4"');
    onlyProblem(
      spec({ 19: '', 20: '', 21: '' }),
      'x.yaml:1:1: nat: is required but missing; add "nat:" as a mapping with the keys manager, instanceType ' +
        '(optional: imageId, keyName, instanceProfileArn, elasticIps)',
    );
  });

  it('reports a value outside an enum', () => {
    onlyProblem(
      spec({ 20: '  manager: lambda' }),
      'x.yaml:20:12: nat.manager: "lambda" is not a supported NAT manager; use one of "ec2", "opsworks"',
    );
    onlyProblem(spec({ 20: '  manager: EC2' }), 'x.yaml:20:12: nat.manager: "EC2" is not a supported NAT manager; did you mean "ec2"?');
  });

  it('checks the stack name', () => {
    onlyProblem(
      spec({ 1: 'name: 1stack' }),
      'x.yaml:1:7: name: "1stack" is not a valid stack name; use letters, digits and hyphens, starting with a letter, such as my-stack',
    );
    onlyProblem(
      spec({ 1: 'name: my_stack' }),
      'x.yaml:1:7: name: "my_stack" is not a valid stack name; use letters, digits and hyphens, starting with a letter, such as my-stack',
    );
    onlyProblem(spec({ 1: `name: a${'b'.repeat(40)}` }), 'x.yaml:1:7: name: is 41 characters long; use at most 40');
    onlyProblem(
      spec({ 1: 'name: ""' }),
      'x.yaml:1:7: name: is empty; use letters, digits and hyphens, starting with a letter, such as my-stack',
    );
    assertOk(parseSpec(spec({ 1: `name: A-${'9'.repeat(38)}` }), 'x.yaml'));
  });

  it('checks the region', () => {
    onlyProblem(
      spec({ 2: 'region: Tokyo' }),
      'x.yaml:2:9: region: "Tokyo" is not a valid AWS region; use an AWS region name, such as ap-northeast-1 or us-east-1',
    );
    onlyProblem(
      spec({ 2: 'region: ap-northeast' }),
      'x.yaml:2:9: region: "ap-northeast" is not a valid AWS region; use an AWS region name, such as ap-northeast-1 or us-east-1',
    );
  });

  it('checks the VPC name', () => {
    onlyProblem(
      spec({ 4: '  name: ""' }),
      'x.yaml:4:9: vpc.name: is empty; give a name with at least one non-blank character, such as MyVPC',
    );
    onlyProblem(
      spec({ 4: '  name: "   "' }),
      'x.yaml:4:9: vpc.name: "   " is not a valid VPC name; give a name with at least one non-blank character, such as MyVPC',
    );
    onlyProblem(spec({ 4: `  name: ${'v'.repeat(256)}` }), 'x.yaml:4:9: vpc.name: is 256 characters long; use at most 255');
    assertOk(parseSpec(spec({ 4: '  name: My VPC (prod) ✓' }), 'x.yaml'));
  });

  it('checks the NAT settings', () => {
    onlyProblem(
      spec({ 21: '  instanceType: t3' }),
      'x.yaml:21:17: nat.instanceType: "t3" is not a valid EC2 instance type; use an EC2 instance type: family, a dot and a size, such as t3.micro',
    );
    onlyProblem(
      spec({}, '  imageId: ami-12345'),
      'x.yaml:22:12: nat.imageId: "ami-12345" is not a valid AMI ID; use an AMI ID: "ami-" followed by 8 to 17 lowercase hexadecimal digits, such as ami-0123456789abcdef0',
    );
    onlyProblem(
      spec({}, '  instanceProfileArn: arn:aws:iam::123456789012:role/nat'),
      'x.yaml:22:23: nat.instanceProfileArn: "arn:aws:iam::123456789012:role/nat" is not a valid IAM instance profile ARN; ' +
        'use an IAM instance profile ARN, such as arn:aws:iam::123456789012:instance-profile/dupsworks-nat',
    );
    assertOk(parseSpec(spec({}, '  instanceProfileArn: arn:aws-cn:iam::123456789012:instance-profile/nat'), 'x.yaml'));
    assertOk(parseSpec(spec({}, '  instanceProfileArn: arn:aws-us-gov:iam::123456789012:instance-profile/a/b/nat+1'), 'x.yaml'));
    onlyProblem(spec({}, '  keyName: ""'), 'x.yaml:22:12: nat.keyName: is empty; give a value such as my-key');
    onlyProblem(spec({}, `  keyName: ${'k'.repeat(256)}`), 'x.yaml:22:12: nat.keyName: is 256 characters long; use at most 255');
  });

  it('needs at least two zones', () => {
    const oneZone = spec({ 13: '', 14: '', 15: '', 16: '', 17: '', 18: '' });
    onlyProblem(oneZone, 'x.yaml:7:3: zones: has 1 zone; give at least 2 zones');
    onlyProblem(
      spec({ 6: 'zones: []', 7: '', 8: '', 9: '', 10: '', 11: '', 12: '', 13: '', 14: '', 15: '', 16: '', 17: '', 18: '' }),
      'x.yaml:6:8: zones: has 0 zones; give at least 2 zones',
    );
  });

  it('checks the form of an availability zone name', () => {
    onlyProblem(
      spec({ 7: '  - availabilityZone: tokyo-c' }),
      'x.yaml:7:23: zones[0].availabilityZone: "tokyo-c" is not a valid availability zone; use a region name followed by a zone letter, such as ap-northeast-1a',
    );
  });
});

describe('CIDR blocks', () => {
  it('reports bad CIDR syntax once, and skips rules that would need the value', () => {
    // vpc.cidr fails the schema, so no subnet is reported as outside it.
    onlyProblem(
      spec({ 5: '  cidr: 10.0.0.0' }),
      'x.yaml:5:9: vpc.cidr: "10.0.0.0" is not a valid VPC CIDR block; write an IPv4 CIDR block: a network address and a prefix length, such as 10.0.0.0/16',
    );
    // A subnet failing the schema is not also reported as overlapping or outside the VPC.
    onlyProblem(
      spec({ 14: '    publicSubnet: 10.0.0.0' }),
      'x.yaml:14:19: zones[1].publicSubnet: "10.0.0.0" is not a valid public subnet CIDR block; write an IPv4 CIDR block: a network address and a prefix length, such as 10.0.0.0/24',
    );
  });

  it('reports octets above 255 and prefixes above 32', () => {
    onlyProblem(
      spec({ 8: '    publicSubnet: 10.0.0.256/24' }),
      'x.yaml:8:19: zones[0].publicSubnet: 10.0.0.256/24 has 256, which is above 255; each of the four numbers must be 0-255',
    );
    onlyProblem(
      spec({ 8: '    publicSubnet: 10.0.0.0/33' }),
      'x.yaml:8:19: zones[0].publicSubnet: 10.0.0.0/33 has prefix length 33; IPv4 prefix lengths are 0 to 32',
    );
  });

  it('reports host bits, suggesting the network address', () => {
    onlyProblem(
      spec({ 8: '    publicSubnet: 10.0.0.1/24' }),
      'x.yaml:8:19: zones[0].publicSubnet: 10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?',
    );
    onlyProblem(
      spec({ 5: '  cidr: 10.0.0.0/15' }),
      'x.yaml:5:9: vpc.cidr: 10.0.0.0/15 is larger than AWS allows for a VPC; use a prefix length from /16 to /28, such as 10.0.0.0/16',
    );
    onlyProblem(spec({ 5: '  cidr: 10.0.1.0/16' }), 'x.yaml:5:9: vpc.cidr: 10.0.1.0/16 has host bits set; did you mean 10.0.0.0/16?');
  });

  it('keeps the VPC prefix within /16 to /28', () => {
    onlyProblem(
      spec({ 5: '  cidr: 10.0.0.0/8' }),
      'x.yaml:5:9: vpc.cidr: 10.0.0.0/8 is larger than AWS allows for a VPC; use a prefix length from /16 to /28, such as 10.0.0.0/16',
    );
    const small = problems(spec({ 5: '  cidr: 10.0.0.0/29' }));
    assert.equal(
      small[0],
      'x.yaml:5:9: vpc.cidr: 10.0.0.0/29 is smaller than AWS allows for a VPC; use a prefix length from /16 to /28, such as 10.0.0.0/28',
    );
    assert.equal(small.length, 1);
  });

  it('keeps subnet prefixes within /16 to /28', () => {
    onlyProblem(
      spec({ 9: '    privateSubnet: 10.0.128.0/29' }),
      'x.yaml:9:20: zones[0].privateSubnet: 10.0.128.0/29 is smaller than AWS allows for a subnet; use a prefix length from /16 to /28, such as 10.0.128.0/28',
    );
    onlyProblem(
      spec({ 5: '  cidr: 10.0.0.0/16', 9: '    privateSubnet: 10.0.0.0/12' }),
      'x.yaml:9:20: zones[0].privateSubnet: 10.0.0.0/12 is larger than AWS allows for a subnet; use a prefix length from /16 to /28, such as 10.0.0.0/16',
    );
    assertOk(parseSpec(spec({ 9: '    privateSubnet: 10.0.128.0/28' }), 'x.yaml'));
  });

  it('reports a subnet outside the VPC, suggesting a free block', () => {
    onlyProblem(
      spec({ 14: '    publicSubnet: 10.1.0.0/24' }),
      'x.yaml:14:19: zones[1].publicSubnet: 10.1.0.0/24 is outside the VPC CIDR 10.0.0.0/16; choose a block inside it, such as 10.0.1.0/24',
    );
    onlyProblem(
      spec({ 5: '  cidr: 10.0.0.0/20', 9: '    privateSubnet: 10.0.0.0/19', 15: '    privateSubnet: 10.0.2.0/24' }),
      'x.yaml:9:20: zones[0].privateSubnet: 10.0.0.0/19 extends beyond the VPC CIDR 10.0.0.0/20; choose a block inside it',
    );
  });

  it('reports overlapping subnets on the later one, naming the earlier', () => {
    onlyProblem(
      spec({ 15: '    privateSubnet: 10.0.0.0/23' }),
      'x.yaml:15:20: zones[1].privateSubnet: 10.0.0.0/23 overlaps zones[0].publicSubnet (10.0.0.0/24); choose a block no other subnet uses, such as 10.0.2.0/23',
    );
    onlyProblem(
      spec({ 9: '    privateSubnet: 10.0.0.0/24' }),
      'x.yaml:9:20: zones[0].privateSubnet: 10.0.0.0/24 overlaps zones[0].publicSubnet (10.0.0.0/24); choose a block no other subnet uses, such as 10.0.2.0/24',
    );
  });

  it('takes "later" in document order', () => {
    onlyProblem(
      spec({ 8: '    privateSubnet: 10.0.128.0/24', 9: '    publicSubnet: 10.0.128.0/25' }),
      'x.yaml:9:19: zones[0].publicSubnet: 10.0.128.0/25 overlaps zones[0].privateSubnet (10.0.128.0/24); choose a block no other subnet uses, such as 10.0.0.0/25',
    );
  });
});

describe('availability zones and the region', () => {
  it('reports a zone outside the region', () => {
    onlyProblem(
      spec({ 13: '  - availabilityZone: us-east-1a' }),
      "x.yaml:13:23: zones[1].availabilityZone: us-east-1a is not in region ap-northeast-1; use one of ap-northeast-1's zones, such as ap-northeast-1a",
    );
    // A region name with no zone letter has the wrong form already.
    assert.equal(problems(spec({ 13: '  - availabilityZone: ap-northeast-1' })).length, 1);
  });

  it('reports a repeated zone', () => {
    onlyProblem(
      spec({ 13: '  - availabilityZone: ap-northeast-1c' }),
      'x.yaml:13:23: zones[1].availabilityZone: ap-northeast-1c is already used by zones[0]; give each zone a different availability zone',
    );
  });

  it('accepts Local Zone and Wavelength Zone names of the region', () => {
    const text = spec({
      2: 'region: us-west-2',
      7: '  - availabilityZone: us-west-2-lax-1a',
      13: '  - availabilityZone: us-west-2-wl1-sea-wlz-1',
    });
    assertOk(parseSpec(text, 'x.yaml'));
    onlyProblem(
      spec({ 2: 'region: us-west-2', 7: '  - availabilityZone: us-west-1a', 13: '  - availabilityZone: us-west-2b' }),
      "x.yaml:7:23: zones[0].availabilityZone: us-west-1a is not in region us-west-2; use one of us-west-2's zones, such as us-west-2a",
    );
  });

  it('lets options.region override the spec region', () => {
    const text = spec({ 7: '  - availabilityZone: us-east-1a', 13: '  - availabilityZone: us-east-1b' });
    const result = parseSpec(text, 'x.yaml', { region: 'us-east-1' });
    assertOk(result);
    assert.equal(result.spec.region, 'us-east-1');

    assert.deepEqual(problems(spec(), { region: 'eu-west-1' }), [
      "x.yaml:7:23: zones[0].availabilityZone: ap-northeast-1c is not in region eu-west-1 (the region override); use one of eu-west-1's zones, such as eu-west-1a",
      "x.yaml:13:23: zones[1].availabilityZone: ap-northeast-1a is not in region eu-west-1 (the region override); use one of eu-west-1's zones, such as eu-west-1a",
    ]);
  });

  it('uses the override even when the spec region is invalid, and checks the override itself', () => {
    const text = spec({ 2: 'region: Tokyo' });
    assert.deepEqual(problems(text, { region: 'ap-northeast-1' }), [
      'x.yaml:2:9: region: "Tokyo" is not a valid AWS region; use an AWS region name, such as ap-northeast-1 or us-east-1',
    ]);
    onlyProblem(
      spec(),
      'x.yaml:2:9: region: the region override "mars" is not a valid AWS region; use an AWS region name, such as ap-northeast-1 or us-east-1',
      { region: 'mars' },
    );
  });
});

describe('heartbeat targets', () => {
  it('viaPeer is a single IPv4 address, not a CIDR block or hostname', () => {
    const hint = 'give one IPv4 host address without a prefix length, such as 8.8.4.4';
    onlyProblem(
      spec({ 11: '      viaPeer: 8.8.4.4/32' }),
      `x.yaml:11:16: zones[0].heartbeat.viaPeer: "8.8.4.4/32" is not a valid heartbeat target via the peer NAT; ${hint}`,
    );
    onlyProblem(
      spec({ 11: '      viaPeer: dns.google' }),
      `x.yaml:11:16: zones[0].heartbeat.viaPeer: "dns.google" is not a valid heartbeat target via the peer NAT; ${hint}`,
    );
    onlyProblem(
      spec({ 11: '      viaPeer: 8.8.4.260' }),
      'x.yaml:11:16: zones[0].heartbeat.viaPeer: 8.8.4.260 has 260, which is above 255; each of the four numbers must be 0-255',
    );
  });

  it('viaPeer is not a special address', () => {
    const cases: [string, string][] = [
      ['0.0.0.0', 'a "this network" address (0.0.0.0/8)'],
      ['255.255.255.255', 'the broadcast address'],
      ['224.0.0.5', 'a multicast address (224.0.0.0/4)'],
      ['127.0.0.1', 'a loopback address (127.0.0.0/8)'],
      ['169.254.169.254', 'a link-local address (169.254.0.0/16)'],
    ];
    for (const [address, what] of cases) {
      onlyProblem(
        spec({ 11: `      viaPeer: ${address}` }),
        `x.yaml:11:16: zones[0].heartbeat.viaPeer: ${address} is ${what}; use a public address that answers ping, such as 8.8.8.8`,
      );
    }
  });

  it('viaPeer is outside the VPC', () => {
    onlyProblem(
      spec({ 17: '      viaPeer: 10.0.200.1' }),
      "x.yaml:17:16: zones[1].heartbeat.viaPeer: 10.0.200.1 is inside the VPC CIDR 10.0.0.0/16; use a public address outside the VPC, so its /32 route can send the pings through the next zone's NAT",
    );
  });

  it('viaPeer differs between zones', () => {
    onlyProblem(
      spec({ 17: '      viaPeer: 8.8.4.4' }),
      "x.yaml:17:16: zones[1].heartbeat.viaPeer: 8.8.4.4 is already zones[0].heartbeat.viaPeer; give each zone a different address, since each zone's address gets its own /32 route through its peer",
    );
  });

  it('viaInternetGateway is a hostname or a usable IPv4 address', () => {
    assertOk(parseSpec(spec({ 12: '      viaInternetGateway: 1.1.1.1', 18: '      viaInternetGateway: example.com.' }), 'x.yaml'));
    onlyProblem(
      spec({ 12: '      viaInternetGateway: bad_host!' }),
      'x.yaml:12:27: zones[0].heartbeat.viaInternetGateway: "bad_host!" is not a valid heartbeat target via the internet gateway; ' +
        'give a hostname such as google.co.jp, or an IPv4 address such as 1.1.1.1',
    );
    onlyProblem(
      spec({ 12: '      viaInternetGateway: 8.8.8' }),
      'x.yaml:12:27: zones[0].heartbeat.viaInternetGateway: 8.8.8 is neither a hostname (a hostname does not end in a number) nor an IPv4 address; ' +
        'give a hostname such as google.co.jp or an IPv4 address such as 1.1.1.1',
    );
    onlyProblem(
      spec({ 12: '      viaInternetGateway: 127.0.0.1' }),
      'x.yaml:12:27: zones[0].heartbeat.viaInternetGateway: 127.0.0.1 is a loopback address (127.0.0.0/8); use a public address that answers ping, such as 8.8.8.8',
    );
    onlyProblem(
      spec({ 12: '      viaInternetGateway: 10.0.0.10' }),
      'x.yaml:12:27: zones[0].heartbeat.viaInternetGateway: 10.0.0.10 is inside the VPC CIDR 10.0.0.0/16; use a public address outside the VPC, so the ping tests the internet gateway',
    );
  });

  it("viaInternetGateway is no zone's viaPeer", () => {
    onlyProblem(
      spec({ 12: '      viaInternetGateway: 8.8.8.8' }),
      "x.yaml:12:27: zones[0].heartbeat.viaInternetGateway: 8.8.8.8 is also zones[1].heartbeat.viaPeer, whose /32 route goes through a peer NAT; use an address that is no zone's viaPeer, such as a hostname like google.co.jp",
    );
  });
});

describe('reporting', () => {
  it('reports every problem at once, sorted by line and column', () => {
    const text = spec(
      {
        1: 'name: 1bad',
        5: '  cidr: 10.0.0.0/16',
        8: '    publicSubnet: 10.0.0.1/24',
        13: '  - availabilityZone: ap-northeast-1c',
        14: '    publicSubnet: 10.1.0.0/24',
        17: '      viaPeer: 8.8.4.4',
        20: '  manager: opsworks',
      },
      '  colour: blue',
    );
    assert.deepEqual(problems(text), [
      'x.yaml:1:7: name: "1bad" is not a valid stack name; use letters, digits and hyphens, starting with a letter, such as my-stack',
      'x.yaml:8:19: zones[0].publicSubnet: 10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?',
      'x.yaml:13:23: zones[1].availabilityZone: ap-northeast-1c is already used by zones[0]; give each zone a different availability zone',
      'x.yaml:14:19: zones[1].publicSubnet: 10.1.0.0/24 is outside the VPC CIDR 10.0.0.0/16; choose a block inside it, such as 10.0.0.0/24',
      "x.yaml:17:16: zones[1].heartbeat.viaPeer: 8.8.4.4 is already zones[0].heartbeat.viaPeer; give each zone a different address, since each zone's address gets its own /32 route through its peer",
      'x.yaml:20:12: nat.manager: is "opsworks" but the spec has no opsworks section; add one with at least serviceRoleArn, defaultInstanceProfileArn and customCookbooks.url',
      'x.yaml:22:3: nat.colour: "colour" is not a known key; remove it (allowed in nat: manager, instanceType, imageId, keyName, instanceProfileArn, elasticIps)',
    ]);
  });

  it('reports problems of all three stages together when the YAML itself is sound', () => {
    // A duplicate key (YAML), an unknown key (schema) and a CIDR rule, all in one run.
    const text = spec({ 8: '    publicSubnet: 10.0.0.1/24' }, '  instanceType: t3.small', '  colour: blue');
    assert.deepEqual(
      problems(text).map((line) => line.split(': ').slice(0, 2).join(': ')),
      ['x.yaml:8:19: zones[0].publicSubnet', 'x.yaml:22:3: nat.instanceType', 'x.yaml:23:3: nat.colour'],
    );
  });

  it('points into an anchor when a value comes through an alias', () => {
    const text = spec({ 10: '    heartbeat: &hb', 16: '    heartbeat: *hb', 17: '', 18: '' });
    onlyProblem(
      text,
      "x.yaml:11:16: zones[1].heartbeat.viaPeer: 8.8.4.4 is already zones[0].heartbeat.viaPeer; give each zone a different address, since each zone's address gets its own /32 route through its peer",
    );
  });

  it('gives every problem a 1-based position and a field path', () => {
    const result = parseSpec('name: 5\nregion: x\nvpc: []\nzones: {}\nnat: 1\n', 'x.yaml');
    assert.equal(result.ok, false);
    for (const problem of result.ok ? [] : result.problems) {
      assert.ok(problem.line >= 1 && problem.column >= 1, formatProblem(problem));
      assert.notEqual(problem.path, '');
      assert.doesNotMatch(problem.message, /must NOT|must have|must be|must match/, 'no ajv wording');
    }
  });
});

describe('huge or hostile input', () => {
  const withTempDir = async (run: (dir: string) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'dupsworks-spec-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('refuses a file over the size bound without parsing it, naming its size', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'big.yaml');
      writeFileSync(file, spec({}, `extra: ${'a'.repeat(3 * 1024 * 1024)}`));
      const result = await loadSpecFile(file);
      assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), [
        `${file}:1:1: the file is 3.0 MiB; a spec is at most 1 MiB (one of six zones is about 3 KB): check that this is the spec file`,
      ]);
    });
  });

  it('reads a stream with no size (a device, a pipe) no further than the bound', async () => {
    const result = await loadSpecFile('/dev/zero');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.problems[0]!.message, /^the file is over 1 MiB; a spec is at most 1 MiB/);
  });

  it('applies the same bound to text given directly', () => {
    const text = spec({}, `extra: ${'a'.repeat(MAX_SPEC_BYTES)}`);
    assert.match(problems(text)[0] ?? '', /^x\.yaml:1:1: the file is 1\.0 MiB; a spec is at most 1 MiB/);
  });

  it('cuts a long value short where a message echoes it', () => {
    const long = 'x'.repeat(5000);
    const [region, document] = [problems(spec({ 2: `region: ${long}` })), problems(long)];
    assert.equal(region.length, 1);
    assert.match(region[0]!, /^x\.yaml:2:9: region: "x{59}\.\.\. \(5002 characters\) is not a valid AWS region;/);
    assert.match(document[0]!, /^x\.yaml:1:1: the document is a single string \("x{59}\.\.\. \(5002 characters\)\); a spec is a mapping/);
    for (const line of [...region, ...document]) assert.ok(line.length < 400, line);
  });

  it('cuts a long unknown key short in the field and in the message', () => {
    const key = 'k'.repeat(1000); // YAML itself allows an implicit key of at most 1024 characters
    const [line, ...rest] = problems(spec({}, `${key}: 1`));
    assert.deepEqual(rest, []);
    assert.match(line!, /^x\.yaml:22:1: k{60}\.\.\. \(1000 characters\): "k{59}\.\.\. \(1002 characters\) is not a known key; remove it/);
  });

  it('shows the first problems and says how many more there are', () => {
    const unknown = Array.from({ length: 120 }, (_, i) => `extra${i}: 1`);
    const result = parseSpec(spec({}, ...unknown), 'x.yaml');
    assert.equal(result.ok ? 0 : result.problems.length, 120, 'every problem is found');
    const lines = formatProblems(result.ok ? [] : result.problems);
    assert.equal(lines.length, MAX_PROBLEMS_SHOWN + 1);
    assert.match(lines[0]!, /^x\.yaml:22:1: extra0: "extra0" is not a known key/);
    assert.equal(lines[MAX_PROBLEMS_SHOWN], '... and 70 more problems not shown; fix those above and validate again');
    assert.deepEqual(formatProblems(result.ok ? [] : result.problems.slice(0, 3)).length, 3, 'no summary line when all are shown');
  });

  it('locates thousands of unknown keys, each at its own line', () => {
    const unknown = Array.from({ length: 5000 }, (_, i) => `extra${i}: 1`);
    const result = parseSpec(spec({}, ...unknown), 'x.yaml');
    const lines = result.ok ? [] : result.problems.map((p) => p.line);
    assert.deepEqual(
      lines,
      unknown.map((_, i) => 22 + i),
    );
  });
});

describe('nat.elasticIps', () => {
  it('takes true, false, or one allocation id per zone, and fills the spec with it', () => {
    for (const value of ['true', 'false', '[eipalloc-0123456789abcdef0, eipalloc-0fedcba9]']) {
      const result = parseSpec(spec({}, `  elasticIps: ${value}`), 'x.yaml');
      assertOk(result);
      assert.deepEqual(result.spec.nat.elasticIps, JSON.parse(value.replace(/(eipalloc-[0-9a-f]+)/g, '"$1"')));
    }
  });

  it('refuses another kind of value once, naming both forms', () => {
    onlyProblem(
      spec({}, '  elasticIps: yes'),
      'x.yaml:22:15: nat.elasticIps: is a string ("yes"); expected true or false, or a list of EC2 Elastic IP allocation ids',
    );
  });

  it('checks each id of the list: its form, and no repeat', () => {
    assert.deepEqual(problems(spec({}, '  elasticIps: [eip-1, eipalloc-0123456789abcdef0]')), [
      'x.yaml:22:16: nat.elasticIps[0]: "eip-1" is not a valid EC2 Elastic IP allocation id; use an Elastic IP allocation id: ' +
        '"eipalloc-" followed by 8 or 17 lowercase hexadecimal digits, such as eipalloc-0123456789abcdef0',
    ]);
    onlyProblem(
      spec({}, '  elasticIps: [eipalloc-0123456789abcdef0, eipalloc-0123456789abcdef0]'),
      'x.yaml:22:44: nat.elasticIps[1]: eipalloc-0123456789abcdef0 is already nat.elasticIps[0]; give each zone its own address',
    );
  });

  it('wants exactly one per zone', () => {
    onlyProblem(
      spec({}, '  elasticIps: [eipalloc-0123456789abcdef0]'),
      'x.yaml:22:15: nat.elasticIps: has 1 allocation id for 2 zones; give one per zone, in the order of zones, ' +
        'or write true to have the stack allocate them',
    );
  });

  it('belongs to nat.manager ec2 only', () => {
    const opsworks = spec(
      { 20: '  manager: opsworks' },
      '  elasticIps: true',
      'opsworks:',
      '  serviceRoleArn: arn:aws:iam::123456789012:role/aws-opsworks-service-role',
      '  defaultInstanceProfileArn: arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
      '  customCookbooks:',
      '    url: https://github.com/example/cookbooks.git',
    );
    onlyProblem(
      opsworks,
      "x.yaml:22:3: nat.elasticIps: applies to nat.manager ec2 only; with OpsWorks the NAT layer's settings assign addresses",
    );
  });
});
