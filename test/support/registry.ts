// Test support: a read-only npm registry on loopback that offers exactly the versions
// package-lock.json pins, each tarball served from npm's own cache (where `npm ci` left it, found
// by its integrity). npm pointed at it installs the packed dupsworks as it would from the public
// registry, without the network: the packuments come from the lockfile, the bytes from the cache.

import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LocalRegistry {
  url: string;
  /** Packuments and tarballs asked for (name or tarball path), in order. */
  requests: string[];
  stop(): Promise<void>;
}

interface LockEntry {
  version?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  license?: string;
  link?: boolean;
}

/** Where cacache keeps content of this integrity ("sha512-<base64>"). */
function cachePath(cache: string, integrity: string): string {
  const [algorithm, digest] = integrity.split('-', 2) as [string, string];
  const hex = Buffer.from(digest, 'base64').toString('hex');
  return join(cache, '_cacache', 'content-v2', algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

export async function startLocalRegistry(
  lockfile: string,
  npmCache = process.env.npm_config_cache ?? join(homedir(), '.npm'),
): Promise<LocalRegistry> {
  const lock = JSON.parse(readFileSync(lockfile, 'utf8')) as { packages: Record<string, LockEntry> };
  const versions = new Map<string, Map<string, LockEntry>>();
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.link || !entry.version || !entry.integrity) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!existsSync(cachePath(npmCache, entry.integrity))) missing.push(`${name}@${entry.version}`);
    if (!versions.has(name)) versions.set(name, new Map());
    versions.get(name)!.set(entry.version, entry);
  }
  if (missing.length > 0) {
    throw new Error(
      `npm's cache (${npmCache}) lacks ${missing.length} locked package(s), e.g. ${missing.slice(0, 3).join(', ')}: run "npm ci" first (it fills the cache)`,
    );
  }

  const requests: string[] = [];
  let base = '';
  const packument = (name: string, entries: Map<string, LockEntry>) => {
    const all = [...entries.values()];
    return {
      name,
      'dist-tags': { latest: all[all.length - 1]!.version },
      versions: Object.fromEntries(
        all.map((e) => {
          const { integrity, link: _, ...manifest } = e;
          const tarball = `${base}/-/${Buffer.from(integrity!).toString('base64url')}.tgz`;
          return [e.version, { name, ...manifest, dist: { tarball, integrity } }];
        }),
      ),
    };
  };

  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://registry').pathname).slice(1);
    requests.push(path);
    const tarball = /^-\/([\w-]+)\.tgz$/.exec(path);
    if (tarball) {
      const file = cachePath(npmCache, Buffer.from(tarball[1]!, 'base64url').toString());
      if (!existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return void res.end(readFileSync(file));
    }
    const entries = versions.get(path);
    if (!entries) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(packument(path, entries)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
