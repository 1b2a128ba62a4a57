// The systemd units in examples/systemd are what the README tells users to install: systemd
// itself must find nothing to say about them, their hardening must stay where it is, and the
// command lines in them must be ones the CLI accepts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, ROOT, cliEnv, runCli } from '../support/cli.js';

const run = promisify(execFile);
const DIR = join(ROOT, 'examples/systemd');
const SERVICES = ['dupsworks-reconcile.service', 'dupsworks-reconcile-once.service'];
const UNITS = [...SERVICES, 'dupsworks-reconcile-once.timer'];
const INSTALLED = '/usr/local/bin/dupsworks';
const made: string[] = [];
after(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

/**
 * The units in a temporary directory, as shipped but for the program's path: verify checks that
 * ExecStart's program exists, and here it is this checkout's, not an installed one.
 * `uncomment` also turns on the commented-out credential lines.
 */
async function copies(uncomment: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dupsworks-units-'));
  made.push(dir);
  for (const unit of UNITS) {
    let text = (await readFile(join(DIR, unit), 'utf8')).replaceAll(INSTALLED, BIN);
    if (uncomment) text = text.replace(/^#((LoadCredential|Environment)=)/gm, '$1');
    await writeFile(join(dir, unit), text);
  }
  return dir;
}

async function verify(dir: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', ...UNITS.map((u) => join(dir, u))]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('systemd-analyze is required by this test (Debian: apt-get install systemd)');
    return { code: Number(e.code), output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the systemd units in examples/systemd', () => {
  it('start the installed program with the spec in /etc/dupsworks', async () => {
    for (const unit of SERVICES) {
      const text = await readFile(join(DIR, unit), 'utf8');
      assert.match(text, new RegExp(`^ExecStart=${INSTALLED} reconcile -f /etc/dupsworks/stack.yaml `, 'm'), unit);
    }
  });

  for (const uncomment of [false, true]) {
    it(`pass systemd-analyze verify without a word${uncomment ? ', with the credential lines uncommented' : ''}`, async () => {
      // verify exits 0 on warnings (an unknown key, a bad specifier): any output is a failure.
      const { code, output } = await verify(await copies(uncomment));
      assert.equal(code, 0, output);
      assert.equal(output, '');
    });
  }

  it('keep their exposure, as systemd-analyze security rates it, at "OK" or better', async () => {
    const dir = await copies(false);
    for (const unit of SERVICES) {
      const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', join(dir, unit)]);
      const level = /Overall exposure level for .*: (\d+\.\d) (\w+)/.exec(stdout);
      assert.ok(level, stdout);
      assert.ok(Number(level[1]) <= 2, `${unit}: exposure ${level[1]} ${level[2]}`);
    }
  });

  it('give the CLI options it accepts, with those the environment file suggests', async () => {
    const env = await readFile(join(DIR, 'dupsworks.env'), 'utf8');
    const suggested = /^#DUPSWORKS_OPTIONS=(.*)$/m.exec(env)?.[1]?.split(' ') ?? [];
    assert.ok(suggested.length > 0, 'dupsworks.env suggests options');
    for (const unit of SERVICES) {
      const text = await readFile(join(DIR, unit), 'utf8');
      const args = /^ExecStart=\S+ (.*) \$DUPSWORKS_OPTIONS$/m.exec(text)![1]!.split(' ');
      // With a spec that is not there, the options parse, then the spec is refused before any AWS call.
      const missing = join(tmpdir(), 'dupsworks-no-such-dir', 'stack.yaml');
      const parsed = await runCli([...args.map((a) => (a === '/etc/dupsworks/stack.yaml' ? missing : a)), ...suggested], cliEnv());
      assert.equal(parsed.code, 1, parsed.stderr);
      assert.ok(parsed.stderr.startsWith(`${missing}:1:1: cannot read the file`), `${unit}: ${parsed.stderr}`);
    }
  });
});
