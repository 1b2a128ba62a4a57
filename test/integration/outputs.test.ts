// Outputs through the CLI, against moto: apply ends with Terraform's "Outputs:" (the ids and the
// NATs' public IPs, the Elastic IPs with nat.elasticIps), and `dupsworks output` prints them again,
// read-only: all, as JSON, one raw (the rest of what it prints is unit-tested in live.test.ts).
// The scenario ends with apply, then an empty plan.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DescribeAddressesCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { runCli, tempFile } from '../support/cli.js';
import { assertNoChanges, liveNat, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

describe('outputs', () => {
  const emu = useEmulator();

  it('ends apply with the outputs and prints them again with dupsworks output', async () => {
    const spec = makeSpec({ nat: { elasticIps: true } });
    const file = await tempFile('spec.yaml', specYaml(spec));
    const endpoint = ['--endpoint-url', emu.moto.endpoint];
    const applied = await runCli(['apply', '-f', file, '--auto-approve', '--lock=false', ...endpoint]);
    assert.equal(applied.code, 0, applied.stderr);
    const [, outputs] = applied.stdout.split('\nOutputs:\n\n');
    assert.ok(outputs, `apply ends with Outputs:\n${applied.stdout}`);

    const vpcId = (await emu.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] })))
      .Vpcs![0]!.VpcId!;
    const addresses = (await emu.ec2.send(new DescribeAddressesCommand({}))).Addresses!;
    assert.match(outputs, new RegExp(`^vpc_id = "${vpcId}"$`, 'm'));
    for (const zone of spec.zones) {
      const nat = await liveNat(emu.ec2, spec.name, zone.availabilityZone);
      const eip = addresses.find((a) => a.InstanceId === nat.InstanceId)!;
      assert.equal(nat.PublicIpAddress, eip.PublicIp);
      assert.match(outputs, new RegExp(`^  "${zone.availabilityZone}" = "${eip.PublicIp!.replace(/\./g, '\\.')}"$`, 'm'));
      assert.match(outputs, new RegExp(`^  "${zone.availabilityZone}" = "${nat.InstanceId}"$`, 'm'));
      assert.match(outputs, new RegExp(`^  "${zone.availabilityZone}" = "${eip.AllocationId}"$`, 'm'));
    }

    // Read-only: the rest goes through the counting proxy, which must see nothing but reads.
    const proxied = ['--endpoint-url', emu.proxy.endpoint];
    emu.proxy.resetCounts();
    const again = await runCli(['output', '-f', file, ...proxied]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, outputs, 'output prints what apply ended with');

    const json = await runCli(['output', '-f', file, '--json', ...proxied]);
    const parsed = JSON.parse(json.stdout) as Record<string, { type: unknown; value: unknown; sensitive: boolean }>;
    assert.deepEqual(parsed.vpc_id, { sensitive: false, type: 'string', value: vpcId });
    assert.deepEqual(parsed.nat_public_ips!.type, ['map', 'string']);

    const raw = await runCli(['output', '-f', file, 'vpc_id', '--raw', ...proxied]);
    assert.equal(raw.stdout, vpcId);
    const calls = [...emu.proxy.calls().keys()];
    assert.ok(calls.includes('DescribeAddresses'), calls.join(', '));
    assert.deepEqual(
      calls.filter((action) => !/^Describe/.test(action)),
      [],
      'nothing but Describe calls',
    );
    assertNoChanges(await makeEngine(spec, emu.moto.endpoint).plan());
  });
});
