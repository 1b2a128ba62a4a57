// Terraform's one-dash long flags: `plan -destroy` is taken as Terraform spells it; any other
// one-dash spelling of a long option is refused with the two-dash one to use, before anything runs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../support/cli.js';

describe('one-dash long flags', () => {
  for (const [args, flag, meant] of [
    [['apply', '-f', 'x.yaml', '-auto-approve'], '-auto-approve', '--auto-approve'],
    [['destroy', '-f', 'x.yaml', '-lock=false'], '-lock=false', '--lock=false'],
    [['apply', '-f', 'x.yaml', '-lock-timeout', '30'], '-lock-timeout', '--lock-timeout'],
    [['-region', 'us-east-1', 'plan', '-f', 'x.yaml'], '-region', '--region'],
    [['-version'], '-version', '--version'],
  ] as const) {
    it(`${flag}: did you mean ${meant}, exit 1, nothing else`, async () => {
      const result = await runCli([...args]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: unknown option '${flag}': dupsworks's long options take two dashes; did you mean ${meant}?\n`);
      assert.equal(result.stdout, '');
    });
  }

  it('plan -destroy is plan --destroy', async () => {
    const help = await runCli(['plan', '-destroy', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--destroy/);
  });

  it('leaves short flags, their values and what follows -- alone', async () => {
    const shortFlag = await runCli(['validate', '-fnothere.yaml']);
    assert.equal(shortFlag.code, 1);
    assert.doesNotMatch(shortFlag.stderr, /two dashes/, '-fFILE is -f FILE');
    assert.match(shortFlag.stderr, /nothere\.yaml/);
    const unknown = await runCli(['plan', '-zz', '-f', 'x.yaml']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown option '-zz'/, 'what is no long option of dupsworks is for commander to refuse');
    const after = await runCli(['lab', 'exec', 'nowhere', '--', 'ping', '-count', '1']);
    assert.doesNotMatch(after.stderr, /two dashes/);
  });
});
