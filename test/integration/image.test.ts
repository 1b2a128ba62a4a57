// The default image follows the instance type against moto, with the real SDK: t4g.nano boots the
// arm64 Amazon Linux 2023 AMI that SSM names, t3.micro the x86_64 one; a type the region does not
// offer is refused at plan time, naming nat.instanceType, before anything is made.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watched } from '../support/watchers.js';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SpecRejected } from '../../src/errors.js';
import { DEFAULT_IMAGE_PARAMETERS } from '../../src/resources/nat-instance.js';
import { runCli, tempFile } from '../support/cli.js';
import { converge, liveNat, makeEngine, makeSpec, REGION, specYaml, useEmulator } from '../support/stack.js';

describe('the image for the instance type', () => {
  const emu = useEmulator();

  async function amiOf(arch: keyof typeof DEFAULT_IMAGE_PARAMETERS): Promise<string> {
    const ssm = new SSMClient({ region: REGION, endpoint: emu.moto.endpoint });
    return (await ssm.send(new GetParameterCommand({ Name: DEFAULT_IMAGE_PARAMETERS[arch] }))).Parameter!.Value!;
  }

  it('launches t4g.nano NATs from the arm64 image and t3.micro ones from the x86_64 image; a change of type replaces them', async () => {
    const [arm, x86] = [await amiOf('arm64'), await amiOf('x86_64')];
    assert.notEqual(arm, x86);
    const arm64Spec = makeSpec({ nat: { instanceType: 't4g.nano' } });
    const plan = await makeEngine(arm64Spec, emu.proxy.endpoint).plan();
    const nat = plan.changes.find((c) => c.kind === 'nat-instance')!;
    assert.equal(nat.preview!.imageId, arm);
    assert.equal(nat.preview!.architecture, 'arm64');
    assert.equal(
      emu.proxy.calls().get('DescribeInstanceTypes'),
      1,
      'one look-up for the whole plan, shared by the preflight and the image',
    );
    await converge(makeEngine(arm64Spec, emu.moto.endpoint));
    for (const zone of arm64Spec.zones) assert.equal((await liveNat(emu.ec2, arm64Spec.name, zone.availabilityZone)).ImageId, arm);

    // Back to x86: each NAT is replaced by one on the x86_64 image.
    const x86Spec = makeSpec();
    const back = await makeEngine(x86Spec, emu.moto.endpoint).plan();
    const replaced = back.changes.filter((c) => c.kind === 'nat-instance');
    assert.deepEqual(
      replaced.map((c) => [c.action, c.preview!.imageId]),
      replaced.map(() => ['replace', x86]),
    );
    await watched(emu.ec2, x86Spec, () => converge(makeEngine(x86Spec, emu.moto.endpoint)));
    for (const zone of x86Spec.zones) assert.equal((await liveNat(emu.ec2, x86Spec.name, zone.availabilityZone)).ImageId, x86);
  });

  it('refuses an instance type the region does not offer before making anything, naming the field at its line', async () => {
    const spec = makeSpec({ nat: { instanceType: 'x9.huge' } });
    await assert.rejects(makeEngine(spec, emu.moto.endpoint).plan(), (error: unknown) => {
      assert.ok(error instanceof SpecRejected);
      assert.deepEqual(
        error.problems.map((p) => p.path),
        [['nat', 'instanceType']],
      );
      return true;
    });
    const file = await tempFile('spec.yaml', specYaml(spec));
    const line =
      specYaml(spec)
        .split('\n')
        .findIndex((l) => l.includes('x9.huge')) + 1;
    const out = await runCli(['apply', '-f', file, '--auto-approve', '--lock=false', '--endpoint-url', emu.proxy.endpoint]);
    assert.equal(out.code, 1, out.stderr);
    assert.match(
      out.stderr,
      new RegExp(`^${file}:${line}:17: nat\\.instanceType: x9\\.huge is not an instance type EC2 offers in ap-northeast-1; `, 'm'),
    );
    assert.match(out.stderr, /^Error: .*: 1 problem found by asking AWS; nothing was changed$/m);
    assert.doesNotMatch(out.stderr, /at .*\.js:\d+/, 'no stack trace');
    const writes = [...emu.proxy.calls().keys()].filter((action) => !/^(Describe|Get|List)/.test(action));
    assert.deepEqual(writes, [], 'nothing was sent but reads');
  });
});
