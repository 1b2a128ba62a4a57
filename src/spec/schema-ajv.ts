// The ajv settings the spec schema is checked with: the build compiles the validator with them
// (scripts/build-assets.ts), and the tests compile the schema afresh with them.

import { Ajv, type Options } from 'ajv';

/**
 * An ajv instance for the spec schema: strict (a mistake in the schema itself throws), all errors,
 * and verbose so errors carry the subschema whose titles and hints make the messages.
 */
export function createSchemaAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true, verbose: true, ...options });
  // An annotation that yaml-language-server shows when a pattern fails; ajv must only know about it.
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  return ajv;
}
