// Test support: which modules a fresh Node process loads, through a module resolve hook that
// records every URL it resolves.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface Loaded {
  urls: string[];
  code: number;
  stdout: string;
  stderr: string;
}

/** Every module URL a fresh `node <args>` resolves, with its exit code and what it printed. */
export async function modulesLoaded(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Loaded> {
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
    const ran = await promisify(execFile)(process.execPath, ['--import', join(dir, 'register.mjs'), ...args], { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: typeof error.code === 'number' ? error.code : -1,
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? '',
      }),
    );
    return { urls: (await readFile(record, 'utf8')).split('\n').filter(Boolean), ...ran };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every module URL a fresh Node process resolves while it imports `module`. */
export async function modulesLoadedBy(module: string): Promise<string[]> {
  const loaded = await modulesLoaded(['--input-type=module', '-e', `await import(${JSON.stringify(module)});`]);
  if (loaded.code !== 0) throw new Error(`importing ${module} failed (exit ${loaded.code}): ${loaded.stderr}`);
  return loaded.urls;
}

/** The AWS SDK's modules (its clients and the Smithy runtime under them) among `urls`. */
export function sdkModules(urls: readonly string[]): string[] {
  return urls.filter((url) => url.includes('/node_modules/@aws-sdk/') || url.includes('/node_modules/@smithy/'));
}
