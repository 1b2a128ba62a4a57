// The topology is pure and cheap to load: importing it (and through it every resource kind, to
// name their resources) loads no AWS SDK module. The kinds load the SDK's commands when they first
// call AWS.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/cli.js';

/** Every module URL a fresh Node process resolves while it imports `module`. */
async function modulesLoadedBy(module: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'dupsworks-load-'));
  try {
    const record = join(dir, 'loaded.txt');
    await writeFile(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(record)}, resolved.url + '\\n');
  return resolved;
}
`,
    );
    await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
    await writeFile(record, '');
    await promisify(execFile)(process.execPath, [
      '--import',
      join(dir, 'register.mjs'),
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(module)});`,
    ]);
    return (await readFile(record, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('loading the topology', () => {
  it('loads no AWS SDK module, though it imports every resource kind', async () => {
    const loaded = await modulesLoadedBy(join(ROOT, 'dist/src/topology/index.js'));
    assert.ok(
      loaded.some((url) => url.endsWith('/dist/src/resources/nat-instance.js')),
      'the kinds are loaded (the topology names resources through them)',
    );
    assert.ok(loaded.some((url) => url.endsWith('/dist/src/resources/opsworks-stack.js')));
    assert.deepEqual(
      loaded.filter((url) => url.includes('/node_modules/@aws-sdk/') || url.includes('/node_modules/@smithy/')),
      [],
    );
  });

  it('is what the test sees: the engine, which calls AWS, does load the SDK', async () => {
    const loaded = await modulesLoadedBy(join(ROOT, 'dist/src/engine.js'));
    assert.ok(loaded.some((url) => url.includes('/node_modules/@aws-sdk/client-ec2/')));
  });
});
