// A NAT instance's first boot in the lab: the user data the emulator holds for it runs inside its
// namespace in the boot script's lab mode (DUPSWORKS_LAB_ROOT: the instance's own root
// directory, where every file it writes goes; DUPSWORKS_LAB_ENDPOINT_URL: the EC2 API as the lab
// serves it, for the agent's configuration), then what it enabled is started as systemd would.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, inNamespace } from './kernel.js';
import { Supervised, enabledUnits } from './services.js';

export interface Booted {
  /** The boot script's output (what cloud-init would log). */
  output: string;
  services: Supervised[];
  /** Enabled units the lab does not run: they came from packages the lab does not install. */
  notModeled: string[];
}

export async function bootInstance(namespace: string, root: string, userData: string, endpointUrl: string): Promise<Booted> {
  await mkdir(root, { recursive: true });
  await mkdir(join(root, 'var/lib/cloud'), { recursive: true });
  await writeFile(join(root, SCRIPT), userData, { mode: 0o700 });
  let output: string;
  try {
    // As cloud-init runs it: no arguments, so every part.
    output = await runScript(namespace, root, [], endpointUrl);
  } catch (error) {
    const detail = error instanceof CommandError ? error.stderr : String(error);
    await log(root, detail);
    throw new Error(`the user data failed in ${namespace}: ${detail.trim().split('\n').slice(-3).join(' | ')}`);
  }
  await log(root, output);
  const { units, withoutFile } = await enabledUnits(root);
  const services = units.map((unit) => new Supervised(unit, namespace, root));
  for (const service of services) await service.start();
  return { output, services, notModeled: withoutFile };
}

async function log(root: string, text: string): Promise<void> {
  await mkdir(join(root, 'var/log'), { recursive: true });
  await writeFile(join(root, 'var/log/cloud-init-output.log'), text, { flag: 'a' });
}

/** Runs parts of an instance's boot script again (e.g. `masquerade` after its rules were flushed). */
export function rerunBootParts(namespace: string, root: string, parts: readonly string[]): Promise<string> {
  return runScript(namespace, root, parts, '');
}

/** Where the user data is kept under the instance's root, as cloud-init keeps it. */
const SCRIPT = 'var/lib/cloud/user-data';

// Its output and its errors in one log, as cloud-init keeps them.
function runScript(namespace: string, root: string, parts: readonly string[], endpointUrl: string): Promise<string> {
  return inNamespace(namespace, 'env', [
    `DUPSWORKS_LAB_ROOT=${root}`,
    `DUPSWORKS_LAB_ENDPOINT_URL=${endpointUrl}`,
    'bash',
    '-c',
    'exec bash "$0" "$@" 2>&1',
    join(root, SCRIPT),
    ...parts,
  ]);
}
