// The NAT boot script and the agent it installs are real shell programs: shellcheck-clean, small
// enough together for EC2's user data (compressed, as cloud-init takes it), and the boot script's
// parts can be run alone.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { USER_DATA_LIMIT, decodeUserData, encodeUserData, encodedSize, natUserData } from '../../src/nat/user-data.js';
import { AGENT_TAGS } from '../../src/nat/tags.js';
import { agentConfig } from '../../src/topology/agent.js';
import { ROOT } from '../support/cli.js';
import type { Spec } from '../../src/spec/types.js';
import { makeSpec } from './fixtures.js';

const run = promisify(execFile);
const BOOT = join(ROOT, 'src/nat/boot.sh');
const AGENT = join(ROOT, 'src/nat/agent.sh');

function userDataOf(stack: string, zones: number, az: string, vpcCidr = '10.0.0.0/16'): string {
  const spec: Spec = {
    ...makeSpec(2),
    name: stack,
    zones: ['c', 'a', 'd', 'b', 'e', 'f'].slice(0, zones).map((letter, i) => ({
      availabilityZone: `ap-northeast-1${letter}`,
      publicSubnet: `10.0.${i}.0/24`,
      privateSubnet: `10.0.${128 + i}.0/24`,
      heartbeat: { viaPeer: `8.8.${i}.8`, viaInternetGateway: 'a-rather-long-name-for-a-heartbeat-target.example.co.jp' },
    })),
    failover: {
      probeIntervalMs: 200,
      failAfter: 10,
      recoverAfter: 20,
      holdDownSeconds: 60,
      snsTopicArn: `arn:aws:sns:ap-northeast-1:123456789012:${'t'.repeat(256)}`,
    },
  };
  return natUserData({ stack, availabilityZone: az, vpcCidr, agentConfig: agentConfig(spec, az) });
}

describe('the NAT boot script and its agent', () => {
  for (const [name, file] of [
    ['the boot script', BOOT],
    ['the agent', AGENT],
  ]) {
    it(`${name} is shellcheck-clean`, async () => {
      await run('shellcheck', ['--shell=bash', file!]).catch((error: NodeJS.ErrnoException & { stdout?: string }) => {
        if (error.code === 'ENOENT') assert.fail('shellcheck is not installed (apt-get install shellcheck)');
        assert.fail(`shellcheck found problems:\n${error.stdout}`);
      });
    });
  }

  it('stays under the 16 KB user data limit compressed, with the longest stack name and six zones, and says so when it would not', () => {
    const userData = userDataOf('a'.repeat(40), 6, 'ap-northeast-1c', '10.100.128.0/17');
    const size = encodedSize(userData);
    // Room to spare for what the agent may need next: a kilobyte.
    assert.ok(size < USER_DATA_LIMIT - 1024, `${size} bytes compressed`);
    assert.ok(Buffer.byteLength(userData) > USER_DATA_LIMIT, 'uncompressed, it would not fit: the compression is needed');
    assert.throws(
      () =>
        natUserData({
          stack: 's',
          availabilityZone: 'ap-northeast-1c',
          vpcCidr: '10.0.0.0/16',
          agentConfig: [['NOISE', randomBytes(8000).toString('hex')]],
        }),
      /the NAT user data is \d+ bytes compressed; EC2 takes at most 16384/,
    );
  });

  it('is sent gzip-compressed, and read back as the text cloud-init runs (plain user data too)', () => {
    const userData = userDataOf('s', 2, 'ap-northeast-1c');
    const sent = encodeUserData(userData);
    assert.deepEqual([...Buffer.from(sent, 'base64').subarray(0, 2)], [0x1f, 0x8b]);
    assert.equal(decodeUserData(sent), userData);
    assert.equal(decodeUserData(Buffer.from('#!/bin/bash\necho hi\n').toString('base64')), '#!/bin/bash\necho hi\n');
  });

  it('is the script with the settings, the agent configuration and the agent written in after its first line', () => {
    const userData = userDataOf('s', 2, 'ap-northeast-1c');
    const lines = userData.split('\n');
    assert.equal(lines[0], '#!/bin/bash');
    assert.equal(lines[1], '# dupsworks NAT instance: stack s, zone ap-northeast-1c');
    assert.equal(lines[2], "DUPSWORKS_VPC_CIDR='10.0.0.0/16'");
    assert.ok(lines.includes('RING_ZONES=ap-northeast-1c,ap-northeast-1a'), 'the ring from this zone on');
    assert.ok(lines.includes('STACK=s'));
    assert.ok(userData.includes(readFileSync(AGENT, 'utf8')), 'the agent, verbatim');
    assert.ok(userData.endsWith('main "$@"\n'));
  });

  it("writes exactly the tags the NATs' IAM policy lets it write (src/nat/tags.ts)", () => {
    const written = [...readFileSync(AGENT, 'utf8').matchAll(/^readonly TAG_[A-Z_]+=(\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(written.sort(), [...AGENT_TAGS.routeTable, ...AGENT_TAGS.instance].sort());
  });

  it("names no instance: replacing one NAT changes no other NAT's user data", () => {
    const text = userDataOf('s', 3, 'ap-northeast-1a');
    assert.doesNotMatch(text.split('dupsworks_agent_program()')[0]!, /\bi-[0-9a-f]/);
  });

  it('installs the agent, its configuration and a systemd unit that restarts it always, in the lab under its root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dupsworks-boot-'));
    try {
      const script = join(root, 'user-data');
      writeFileSync(script, userDataOf('s', 2, 'ap-northeast-1c'));
      await run('bash', [script, 'agent'], {
        env: { ...process.env, DUPSWORKS_LAB_ROOT: root, DUPSWORKS_LAB_ENDPOINT_URL: 'http://203.0.113.10:80' },
      });
      assert.equal(readFileSync(join(root, 'usr/local/sbin/dupsworks-agent'), 'utf8'), readFileSync(AGENT, 'utf8'));
      assert.equal(statSync(join(root, 'usr/local/sbin/dupsworks-agent')).mode & 0o777, 0o755);
      const config = readFileSync(join(root, 'etc/dupsworks/agent.conf'), 'utf8');
      assert.match(config, /^ZONE=ap-northeast-1c$/m);
      assert.match(config, /^ENDPOINT_URL=http:\/\/203\.0\.113\.10:80$/m, 'the lab adds its API endpoint');
      const unit = readFileSync(join(root, 'etc/systemd/system/dupsworks-agent.service'), 'utf8');
      assert.match(unit, /^ExecStart=\/usr\/local\/sbin\/dupsworks-agent \/etc\/dupsworks\/agent\.conf$/m);
      assert.match(unit, /^Restart=always$/m);
      assert.match(unit, /^StartLimitIntervalSec=0$/m);
      assert.equal(readFileSync(join(root, 'var/lib/dupsworks-lab/enabled-services'), 'utf8'), 'dupsworks-agent\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a part it does not have, and says which it has, before doing anything', async () => {
    const error = await run('bash', [BOOT, 'forwarding', 'colour'], {
      env: { ...process.env, DUPSWORKS_VPC_CIDR: '10.0.0.0/16', DUPSWORKS_LAB_ROOT: '/nonexistent' },
    }).then(
      () => assert.fail('an unknown part must fail'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(error.code, 2);
    assert.match(error.stderr, /unknown part "colour"; the parts are: forwarding masquerade agent/);
  });

  it('needs the VPC CIDR', async () => {
    const { DUPSWORKS_VPC_CIDR: _, ...env } = process.env;
    const error = await run('bash', [BOOT, 'forwarding'], { env }).then(
      () => assert.fail('it must fail without the CIDR'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.match(error.stderr, /DUPSWORKS_VPC_CIDR: the VPC CIDR/);
  });
});
