// The commands that need no AWS start fast: --help, --version and validate load no module of the
// AWS SDK (nearly all of a start-up's time, before the CLI loaded it lazily). `npm run bench`
// measures the time; this checks the cause, in a fresh process with a module hook.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, ROOT, cliEnv, tempFile } from '../support/cli.js';
import { modulesLoaded, sdkModules } from '../support/loaded-modules.js';

const EXAMPLE = join(ROOT, 'examples/ha-nat.yaml');

async function cli(args: string[]) {
  return modulesLoaded([BIN, ...args], cliEnv());
}

describe('what the CLI loads', () => {
  for (const args of [['--help'], ['--version'], ['plan', '--help'], ['graph', '--help'], ['validate', '-f', EXAMPLE]]) {
    it(`dupsworks ${args.join(' ').replace(ROOT, '.')}: no AWS SDK module, no Graphviz`, async () => {
      const loaded = await cli(args);
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.deepEqual(sdkModules(loaded.urls), []);
      assert.deepEqual(
        loaded.urls.filter((url) => url.includes('/@viz-js/') || /\/dist\/src\/(engine|live\/(stack|status|outputs|svg))\.js$/.test(url)),
        [],
        'graph, status and output load the engine, the live stack and Graphviz when they run',
      );
      assert.ok(loaded.urls.some((url) => url.endsWith('/dist/src/cli.js')));
    });
  }

  it('validate of a spec with problems: the problems, exit 1, no AWS SDK module', async () => {
    const bad = await tempFile('bad.yaml', 'name: x\nregion: nowhere\n');
    const loaded = await cli(['validate', '-f', bad]);
    assert.equal(loaded.code, 1);
    assert.match(loaded.stderr, /problems?; nothing was sent to AWS/);
    assert.deepEqual(sdkModules(loaded.urls), []);
  });

  it('is what the test sees: plan, which calls AWS, loads the SDK', async () => {
    const loaded = await cli(['plan', '-f', EXAMPLE, '--endpoint-url', 'http://127.0.0.1:9']);
    assert.equal(loaded.code, 1, 'nothing answers on port 9');
    assert.ok(loaded.urls.some((url) => url.includes('/node_modules/@aws-sdk/client-ec2/')));
  });
});
