// The spec schema's validator, compiled by the build (scripts/build-assets.ts) from
// schemas/dupsworks.schema.json with createSchemaAjv's settings (schema-ajv.ts).

import type { ValidateFunction } from 'ajv';

declare const validate: ValidateFunction & { schemaSha256: string };
export = validate;
