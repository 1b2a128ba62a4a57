// The topology is pure and cheap to load: importing it (and through it every resource kind, to
// name their resources) loads no AWS SDK module. The kinds load the SDK's commands when they first
// call AWS.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT } from '../support/cli.js';
import { modulesLoadedBy, sdkModules } from '../support/loaded-modules.js';

describe('loading the topology', () => {
  it('loads no AWS SDK module, though it imports every resource kind', async () => {
    const loaded = await modulesLoadedBy(join(ROOT, 'dist/src/topology/index.js'));
    assert.ok(
      loaded.some((url) => url.endsWith('/dist/src/resources/nat-instance.js')),
      'the kinds are loaded (the topology names resources through them)',
    );
    assert.ok(loaded.some((url) => url.endsWith('/dist/src/resources/opsworks-stack.js')));
    assert.deepEqual(sdkModules(loaded), []);
  });

  it('is what the test sees: the engine, which calls AWS, does load the SDK', async () => {
    const loaded = await modulesLoadedBy(join(ROOT, 'dist/src/engine.js'));
    assert.ok(loaded.some((url) => url.includes('/node_modules/@aws-sdk/client-ec2/')));
  });
});
