// Where the spec's JSON Schema (schemas/dupsworks.schema.json) is. The build compiles the schema
// once into dist/src/spec/schema-validator.cjs (ajv's standalone code, with schema-ajv.ts's
// settings), so a run of `validate` loads a ready validator and not ajv's compiler.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCHEMA_FILE = join('schemas', 'dupsworks.schema.json');

/**
 * Where schemas/dupsworks.schema.json is: the nearest directory above this module holding it
 * (this module runs from src/spec under a TypeScript loader and from dist/src/spec once compiled).
 */
export function specSchemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, SCHEMA_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${SCHEMA_FILE} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
