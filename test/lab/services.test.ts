// What a NAT's boot script enables runs as systemd would run it, inside the NAT's namespace: its
// ExecStart with its Environment, started again when it dies (Restart=always). The next issue's
// agent arrives this way; here a small unit stands in for it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { removeLab } from '../../src/lab/cleanup.js';
import { addNamespace } from '../../src/lab/kernel.js';
import { namespacePrefix } from '../../src/lab/names.js';
import { ENABLED_SERVICES_FILE, Supervised, enabledUnits } from '../../src/lab/services.js';
import { eventually, labStackName } from '../support/lab.js';

const run = promisify(execFile);

describe('lab: services a NAT enables', () => {
  const stack = labStackName('svc');
  const namespace = `${namespacePrefix(stack)}nat`;
  let root: string;
  after(async () => {
    await removeLab(stack);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('starts an enabled unit in the namespace with its environment, restarts it when it dies, and not once stopped', async () => {
    root = await mkdtemp(join(tmpdir(), 'dupsworks-lab-root-'));
    await addNamespace(namespace);
    await mkdir(join(root, 'etc/systemd/system'), { recursive: true });
    await mkdir(join(root, 'usr/local/bin'), { recursive: true });
    await mkdir(join(root, 'var/lib/dupsworks-lab'), { recursive: true });
    // The program writes which network namespace it runs in, then waits to be killed.
    await writeFile(
      join(root, 'usr/local/bin/agent'),
      '#!/bin/bash\nset -euo pipefail\nreadlink /proc/self/ns/net > "$DUPSWORKS_LAB_ROOT/var/run-$GREETING"\nexec sleep 600\n',
      { mode: 0o755 },
    );
    await writeFile(
      join(root, 'etc/systemd/system/agent.service'),
      '[Service]\nEnvironment=GREETING=hello\nExecStart=/usr/local/bin/agent\nRestart=always\nRestartSec=100ms\n',
    );
    await writeFile(join(root, ENABLED_SERVICES_FILE), 'iptables\nagent\n');

    const { units, withoutFile } = await enabledUnits(root);
    assert.deepEqual(withoutFile, ['iptables.service'], 'a unit from a package has no file under the root');
    assert.deepEqual(
      units.map((u) => u.name),
      ['agent.service'],
    );
    const service = new Supervised(units[0]!, namespace, root);
    await service.start();
    try {
      const marker = join(root, 'var/run-hello');
      await eventually(
        'the unit wrote its marker',
        () =>
          stat(marker).then(
            () => true,
            () => false,
          ),
        (ok) => ok,
      );
      const inode = (await readFile(marker, 'utf8')).trim();
      const { stdout } = await run('ip', ['netns', 'exec', namespace, 'readlink', '/proc/self/ns/net']);
      assert.equal(inode, stdout.trim(), 'it runs in the NAT namespace');

      const first = await eventually(
        'the unit has a pid',
        async () => (await run('ip', ['netns', 'pids', namespace])).stdout.trim(),
        (p) => p !== '',
      );
      for (const pid of first.split('\n')) process.kill(Number(pid), 'SIGKILL');
      await eventually(
        'restarted',
        async () => service.starts,
        (n) => n === 2,
      );
    } finally {
      service.stop();
    }
    await eventually(
      'stopped',
      async () => (await run('ip', ['netns', 'pids', namespace])).stdout.trim(),
      (p) => p === '',
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(service.starts, 2, 'not restarted once stopped');
  });
});
