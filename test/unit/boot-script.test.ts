// The NAT boot script is a real shell program: shellcheck-clean, small enough for EC2's user data,
// and its parts can be run alone.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { USER_DATA_LIMIT, natUserData } from '../../src/nat/user-data.js';
import { ROOT } from '../support/cli.js';

const run = promisify(execFile);
const BOOT = join(ROOT, 'src/nat/boot.sh');

describe('the NAT boot script', () => {
  it('is shellcheck-clean', async () => {
    await run('shellcheck', ['--shell=bash', BOOT]).catch((error: NodeJS.ErrnoException & { stdout?: string }) => {
      if (error.code === 'ENOENT') assert.fail('shellcheck is not installed (apt-get install shellcheck)');
      assert.fail(`shellcheck found problems:\n${error.stdout}`);
    });
  });

  it('stays well under the 16 KB user data limit, with the longest stack name', () => {
    const userData = natUserData({ stack: 'a'.repeat(40), availabilityZone: 'ap-northeast-1c', vpcCidr: '10.100.128.0/17' });
    assert.ok(Buffer.byteLength(userData) < USER_DATA_LIMIT / 2, `${Buffer.byteLength(userData)} bytes`);
  });

  it('is the script with the settings written in after its first line', () => {
    const userData = natUserData({ stack: 's', availabilityZone: 'ap-northeast-1c', vpcCidr: '10.0.0.0/16' });
    const lines = userData.split('\n');
    assert.equal(lines[0], '#!/bin/bash');
    assert.equal(lines[1], '# dupsworks NAT instance: stack s, zone ap-northeast-1c');
    assert.equal(lines[2], "DUPSWORKS_VPC_CIDR='10.0.0.0/16'");
    assert.ok(userData.endsWith('main "$@"\n'));
  });

  it('refuses a part it does not have, and says which it has, before doing anything', async () => {
    const error = await run('bash', [BOOT, 'forwarding', 'colour'], {
      env: { ...process.env, DUPSWORKS_VPC_CIDR: '10.0.0.0/16', DUPSWORKS_LAB_ROOT: '/nonexistent' },
    }).then(
      () => assert.fail('an unknown part must fail'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(error.code, 2);
    assert.match(error.stderr, /unknown part "colour"; the parts are: forwarding masquerade/);
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
