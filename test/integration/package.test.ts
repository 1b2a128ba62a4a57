// The package as a user gets it: `npm pack`, then `npm install -g` of the tarball into a fresh
// prefix, then the installed `dupsworks` run from outside the repository: --version, validate of
// the example it ships, and a plan against moto. npm installs the dependencies from a loopback
// registry offering exactly the locked versions out of npm's cache (test/support/registry.ts), so
// this needs no network.
//
// The tarball is packed with --ignore-scripts from the dist/ that `npm test` has just built:
// prepack's clean build would remove dist/ under the tests running beside this one.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, cliEnv } from '../support/cli.js';
import { startMoto, type Moto } from '../support/moto.js';
import { startLocalRegistry, type LocalRegistry } from '../support/registry.js';
import { makeSpec, specYaml } from '../support/stack.js';

const run = promisify(execFile);
const VERSION = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('the npm package', () => {
  let dir: string;
  let registry: LocalRegistry;
  let moto: Moto;
  let files: string[];
  let installed: string;
  const timings: Record<string, number> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dupsworks-package-'));
    [registry, moto] = await Promise.all([startLocalRegistry(join(ROOT, 'package-lock.json')), startMoto()]);
    let started = Date.now();
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
    timings.pack = Date.now() - started;
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    files = packed!.files.map((f) => f.path).sort();
    started = Date.now();
    const prefix = join(dir, 'prefix');
    await run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--registry',
        registry.url,
        '--cache',
        join(dir, 'npm-cache'),
        '--no-audit',
        '--no-fund',
        '--no-update-notifier',
        join(dir, packed!.filename),
      ],
      { cwd: dir },
    );
    timings.install = Date.now() - started;
    installed = join(prefix, 'bin', 'dupsworks');
  });

  after(async () => {
    await Promise.all([registry?.stop(), moto?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const dupsworks = (args: string[]) => run(installed, args, { cwd: dir, env: cliEnv() });

  it('holds what runs and nothing of the tests, the CI or the bench', () => {
    for (const needed of [
      'LICENSE',
      'README.md',
      'package.json',
      'bin/dupsworks.js',
      'dist/src/cli.js',
      'dist/src/nat/boot.sh',
      'schemas/dupsworks.schema.json',
      'examples/ha-nat.yaml',
      'examples/ha-nat-opsworks.yaml',
    ]) {
      assert.ok(files.includes(needed), `the package holds ${needed}`);
    }
    const foreign = files.filter((f) => !/^(LICENSE|README\.md|package\.json|bin\/|dist\/src\/|schemas\/|examples\/)/.test(f));
    assert.deepEqual(foreign, [], 'nothing outside what runs');
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') || f.endsWith('.map')),
      [],
      'no TypeScript sources and no source maps (their sources are not shipped)',
    );
    // Every shell program the built code reads at run time sits beside it.
    for (const program of files.filter((f) => /^src\/nat\/.*\.sh$/.test(f))) assert.ok(files.includes(`dist/${program}`));
  });

  it('installs from the tarball alone and prints its version', async (t) => {
    t.diagnostic(`npm pack ${timings.pack} ms, npm install -g ${timings.install} ms`);
    const { stdout } = await dupsworks(['--version']);
    assert.equal(stdout.trim(), VERSION);
    assert.ok(
      registry.requests.some((r) => r === '@aws-sdk/client-ec2'),
      'the dependencies came through the registry, not from the repository',
    );
    assert.ok(timings.pack! + timings.install! < 60_000, `pack and install took ${JSON.stringify(timings)} ms; the bound is a minute`);
  });

  it('validates the example it ships, from outside the repository', async () => {
    const example = join(dir, 'prefix', 'lib', 'node_modules', 'dupsworks', 'examples', 'ha-nat.yaml');
    const { stdout } = await dupsworks(['validate', '-f', example]);
    assert.match(stdout, /valid \(stack my-stack, 2 zones, region ap-northeast-1\)/);
  });

  it('plans a stack against moto, its NATs booting from the shell program in the package', async () => {
    const shipped = await readFile(join(dir, 'prefix', 'lib', 'node_modules', 'dupsworks', 'dist', 'src', 'nat', 'boot.sh'), 'utf8');
    assert.equal(shipped, await readFile(join(ROOT, 'src', 'nat', 'boot.sh'), 'utf8'));
    const spec = join(dir, 'stack.yaml');
    await writeFile(spec, specYaml(makeSpec({ name: 'packaged' })));
    const { stdout } = await dupsworks(['plan', '-f', spec, '--endpoint-url', moto.endpoint]);
    assert.match(stdout, /# nat\/ap-northeast-1c will be created/);
    assert.match(stdout, /Plan: \d+ to add, 0 to change, 0 to destroy\./);
  });
});
