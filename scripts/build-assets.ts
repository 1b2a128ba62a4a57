// Part of `npm run build`, after tsc: what the built code reads at run time that tsc does not make.
//   - the NAT's shell programs (src/nat/*.sh), copied beside the modules that read them (dist/src/nat/);
//   - the spec schema's validator, compiled once into ajv's standalone code
//     (dist/src/spec/schema-validator.cjs), so that `validate` does not compile the schema at every start.
// The package ships only dist/src.

import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { specSchemaPath } from '../src/spec/schema.js';
import { createSchemaAjv } from '../src/spec/schema-ajv.js';

const src = new URL('../../src/', import.meta.url); // this runs from dist/scripts/
const dist = new URL('../src/', import.meta.url);

for (const name of readdirSync(new URL('nat/', src)).filter((n) => n.endsWith('.sh'))) {
  copyFileSync(new URL(`nat/${name}`, src), new URL(`nat/${name}`, dist));
}

const text = readFileSync(specSchemaPath(), 'utf8');
const ajv = createSchemaAjv({ code: { source: true } });
const code = standaloneCode.default(ajv, ajv.compile(JSON.parse(text)));
// The digest of the schema it was made from: a test checks that the built validator is the schema's.
const digest = createHash('sha256').update(text).digest('hex');
writeFileSync(new URL('spec/schema-validator.cjs', dist), `${code}\nmodule.exports.schemaSha256 = ${JSON.stringify(digest)};\n`);
