// Part of `npm run build`: the NAT's shell programs (src/nat/*.sh) go beside the built modules that
// read them at run time (dist/src/nat/), since tsc copies no shell. The package ships only dist/.

import { copyFileSync, readdirSync } from 'node:fs';

const from = new URL('../../src/nat/', import.meta.url); // this runs from dist/scripts/
const to = new URL('../src/nat/', import.meta.url);
for (const name of readdirSync(from).filter((n) => n.endsWith('.sh'))) copyFileSync(new URL(name, from), new URL(name, to));
