import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { createSchemaAjv } from '../../src/spec/schema-ajv.js';
import { specSchemaPath } from '../../src/spec/schema.js';
import builtValidator from '../../src/spec/schema-validator.cjs';

type SchemaNode = Record<string, unknown>;

const schemaFile = specSchemaPath();
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as SchemaNode;
const repoRoot = dirname(dirname(schemaFile));

/** Every subschema with its location, e.g. ['#/properties/zones/items', {...}]. */
function subschemas(node: SchemaNode, where = '#'): [string, SchemaNode][] {
  const found: [string, SchemaNode][] = [[where, node]];
  if (typeof node.properties === 'object' && node.properties !== null) {
    for (const [key, child] of Object.entries(node.properties as Record<string, SchemaNode>)) {
      found.push(...subschemas(child, `${where}/properties/${key}`));
    }
  }
  if (typeof node.items === 'object' && node.items !== null) found.push(...subschemas(node.items as SchemaNode, `${where}/items`));
  if (Array.isArray(node.anyOf))
    (node.anyOf as SchemaNode[]).forEach((branch, i) => found.push(...subschemas(branch, `${where}/anyOf/${i}`)));
  return found;
}

describe('schemas/dupsworks.schema.json', () => {
  it('is found from the compiled module, at <repo>/schemas', () => {
    assert.equal(schemaFile, join(repoRoot, 'schemas', 'dupsworks.schema.json'));
  });

  it('is draft-07', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  });

  it('compiles under ajv strict mode, with only the editor annotation patternErrorMessage added', () => {
    const ajv = new Ajv({ strict: true, allErrors: true });
    ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
    assert.doesNotThrow(() => ajv.compile(schema));
    assert.doesNotThrow(() => createSchemaAjv().compile(schema));
  });

  it('is rejected by strict mode when broken (the check above is not vacuous)', () => {
    const broken = { ...schema, properties: { ...(schema.properties as object), extra: { type: 'string', patern: 'x' } } };
    assert.throws(() => createSchemaAjv().compile(broken), /unknown keyword/);
  });

  it('gives every property a title and description, and closes every object', () => {
    for (const [where, node] of subschemas(schema)) {
      assert.equal(typeof node.title, 'string', `${where} has no title`);
      assert.equal(typeof node.description, 'string', `${where} has no description`);
      // A value of several forms (nat.elasticIps: true, or a list) has a type in each form instead.
      assert.ok(typeof node.type === 'string' || Array.isArray(node.anyOf), `${where} has no type`);
      if (node.type === 'object') {
        assert.equal(node.additionalProperties, false, `${where} allows additional properties`);
        assert.ok(Array.isArray(node.required), `${where} has no required list`);
      }
      if (typeof node.pattern === 'string') {
        assert.equal(typeof node.patternErrorMessage, 'string', `${where} has a pattern but no patternErrorMessage`);
      }
    }
  });

  it('is what the validator the build compiled was made from, and judges as a fresh compile does', () => {
    const text = readFileSync(schemaFile, 'utf8');
    assert.equal(builtValidator.schemaSha256, createHash('sha256').update(text).digest('hex'), 'run npm run build');
    const fresh = createSchemaAjv().compile(schema);
    const bad = { name: 'x', region: 'nowhere', vpc: { cidr: 7 }, zones: [], nat: { colour: 'red' } };
    assert.equal(builtValidator(bad), fresh(bad));
    assert.deepEqual(builtValidator.errors, fresh.errors);
  });

  it('accepts the canonical example', () => {
    const validate = createSchemaAjv().compile(schema);
    const example = parse(readFileSync(join(repoRoot, 'examples', 'ha-nat.yaml'), 'utf8')) as unknown;
    assert.equal(validate(example), true, JSON.stringify(validate.errors));
  });

  it('is what the example names on its first line for yaml-language-server', () => {
    const exampleFile = join(repoRoot, 'examples', 'ha-nat.yaml');
    const firstLine = readFileSync(exampleFile, 'utf8').split('\n')[0] ?? '';
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(firstLine);
    assert.ok(match, `first line is ${JSON.stringify(firstLine)}`);
    assert.equal(resolve(dirname(exampleFile), match[1]!), schemaFile);
  });
});
