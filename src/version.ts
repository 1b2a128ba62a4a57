// This dupsworks's version, as package.json gives it: saved plans record it, and the messages
// that depend on what a version makes name it.

import { readFileSync } from 'node:fs';

const packageJson = new URL('../../package.json', import.meta.url);

export const VERSION: string = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
