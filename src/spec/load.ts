// Reads a spec file and checks it before any AWS call. Every problem found is reported at once,
// each with the file, line and column of the offending value and a sentence saying what is wrong
// and what would be right.
//
// Three stages, each only looking at what the previous one accepted:
//   1. YAML: syntax errors, duplicate keys, an empty file, several documents, a non-mapping.
//   2. Structure: the JSON Schema in schemas/dupsworks.schema.json, run by ajv. Its errors are
//      turned into sentences here, using the schema's own titles, examples and
//      patternErrorMessage (the same annotation editors show through yaml-language-server).
//   3. Meaning: rules.ts (CIDR arithmetic, zones in the region, heartbeat targets, the settings of
//      each NAT manager, repeats), only on fields that passed the schema.
// A spec that passes all three comes back with its defaults filled in (defaults.ts).

import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ErrorObject, ValidateFunction } from 'ajv';
import {
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import { withDefaults, type SpecInput } from './defaults.js';
import { checkRules, formatPath, type Path } from './rules.js';
import { specSchemaPath } from './schema.js';
import validateSpecSchema from './schema-validator.cjs';
import type { Spec } from './types.js';

export interface Problem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The field, as in zones[1].publicSubnet; empty for the document as a whole. */
  path: string;
  message: string;
}

/**
 * `problemAt`: a problem with a field of the spec found later (at plan time, by asking AWS), at the
 * field's place in the file, to be shown as validate shows its own.
 */
export type LoadResult = { ok: true; spec: Spec; problemAt(path: Path, message: string): Problem } | { ok: false; problems: Problem[] };

export interface LoadOptions {
  /** Overrides the spec's region (the CLI's --region); zones must then be in this region. */
  region?: string;
}

/**
 * The largest spec read. A spec of six zones with every OpsWorks setting is about 3 KB; anything near
 * this is the wrong file, and reading and parsing it whole would only cost time and memory.
 */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** How many problems are shown; past that, one line says how many more there are. */
export const MAX_PROBLEMS_SHOWN = 50;

/** "examples/x.yaml:12:7: zones[1].publicSubnet: <what is wrong>; <what would be right>" */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path === '' ? '' : `${shorten(p.path)}: `}${p.message}`;
}

/** The problem lines to show: the first MAX_PROBLEMS_SHOWN, then how many more there are. */
export function formatProblems(problems: readonly Problem[]): string[] {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).map(formatProblem);
  const more = problems.length - shown.length;
  if (more > 0) shown.push(`... and ${more} more problem${more === 1 ? '' : 's'} not shown; fix those above and validate again`);
  return shown;
}

export async function loadSpecFile(file: string, options: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readBounded(file);
  } catch (error) {
    const message = error instanceof TooLarge ? error.message : unreadable(error);
    return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message }] };
  }
  return parseSpec(text, file, options);
}

class TooLarge extends Error {}

/** The file's text, read no further than MAX_SPEC_BYTES (a pipe or device has no size to check first). */
async function readBounded(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_SPEC_BYTES) throw new TooLarge(tooLarge(size));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_SPEC_BYTES) throw new TooLarge(tooLarge(undefined));
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** `bytes` undefined: a stream found to be longer than the bound, of a length not known. */
function tooLarge(bytes: number | undefined): string {
  const limit = `${MAX_SPEC_BYTES / (1024 * 1024)} MiB`;
  const size = bytes === undefined ? `over ${limit}` : `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  return `the file is ${size}; a spec is at most ${limit} (one of six zones is about 3 KB): check that this is the spec file`;
}

export function parseSpec(text: string, file: string, options: LoadOptions = {}): LoadResult {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_SPEC_BYTES) return { ok: false, problems: [{ file, line: 1, column: 1, path: '', message: tooLarge(bytes) }] };
  const lineCounter = new LineCounter();
  const problems: Problem[] = [];
  const at = (offset: number, path: Path, message: string): void => {
    const { line, col } = lineCounter.linePos(offset);
    problems.push({ file, line, column: col, path: formatPath(path), message });
  };
  const done = (): LoadResult => ({ ok: false, problems: sortProblems(problems) });

  // ---- Stage 1: YAML ----
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false, logLevel: 'error' });
  const errorOffsets = new Set<number>();
  for (const error of documents.flatMap((document) => document.errors)) {
    // The parser sometimes reports one mistake twice from the same spot; keep the first.
    if (errorOffsets.has(error.pos[0])) continue;
    errorOffsets.add(error.pos[0]);
    at(error.pos[0], [], `invalid YAML: ${error.message.replace(/\.$/, '')}; fix the syntax here`);
  }
  if (problems.length > 0) return done();

  const nonEmpty = documents.filter(holdsSomething);
  const [document, second] = nonEmpty;
  if (!document?.contents) {
    at(0, [], `the file holds no spec; write a mapping with ${rootKeys()}`);
    return done();
  }
  if (second?.contents) {
    at(second.contents.range[0], [], `the file holds ${nonEmpty.length} YAML documents; keep one spec per file and remove the others`);
  }
  const root = document.contents;
  if (!isMap(root)) {
    at(root.range[0], [], `the document is ${describeNode(root)}; a spec is a mapping with ${rootKeys()}`);
    return done();
  }
  for (const duplicate of findDuplicateKeys(root, [])) {
    const { line } = lineCounter.linePos(duplicate.first);
    at(duplicate.offset, duplicate.path, `duplicate key "${duplicate.key}" (first at line ${line}); keep only one of them`);
  }

  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    at(0, [], `the document cannot be read: ${error instanceof Error ? error.message : String(error)}; simplify its aliases`);
    return done();
  }
  const locate = (path: Path, target: 'value' | 'key' = 'value'): number => locateNode(document, path, target);
  const source = (path: Path): string | undefined => scalarSource(document, text, path);

  // ---- Stage 2: structure ----
  const validate = specValidator();
  const failedPaths = new Set<string>();
  if (!validate(data)) {
    for (const error of dropMissingMisspelt(keepOnePerValue(oneFormEach(withoutRuleChecks(validate.errors ?? []))))) {
      const problem = describeSchemaError(error, data, source);
      if (problem.taints) failedPaths.add(formatPath(problem.path));
      at(locate(problem.locateAt, problem.target), problem.path, problem.message);
    }
  }
  const passedSchema = (path: Path): boolean => !failedPaths.has(formatPath(path));

  // ---- Stage 3: meaning ----
  const region = effectiveRegion(data, options.region, passedSchema, (message) => at(locate(['region']), ['region'], message));
  const ruleProblems = checkRules(data, {
    region,
    regionOverridden: options.region !== undefined,
    passedSchema,
    sourceOffset: (path) => locate(path),
  });
  for (const problem of ruleProblems) at(locate(problem.path, problem.target), problem.path, problem.message);

  if (problems.length > 0) return done();
  // Everything passed, so the data has the Spec shape but for defaults, and `region` is set.
  const problemAt = (path: Path, message: string): Problem => {
    const { line, col } = lineCounter.linePos(locate(path));
    return { file, line, column: col, path: formatPath(path), message };
  };
  return { ok: true, spec: withDefaults({ ...(data as SpecInput), region: region as string }), problemAt };
}

/** A document holding nothing, or only a null (`---` alone, `~`), holds no spec. */
function holdsSomething(document: Document): boolean {
  const contents = document.contents;
  return contents !== null && !(isScalar(contents) && contents.value === null);
}

/**
 * The region the spec is checked against and returned with: the override when given (and valid),
 * else the spec's own region when it passed the schema; undefined when neither is usable.
 */
function effectiveRegion(
  data: unknown,
  override: string | undefined,
  passedSchema: (path: Path) => boolean,
  report: (message: string) => void,
): string | undefined {
  if (override === undefined) {
    return isRecord(data) && typeof data.region === 'string' && passedSchema(['region']) ? data.region : undefined;
  }
  const rule = schemaAt(['properties', 'region']);
  if (new RegExp(String(rule.pattern), 'u').test(override)) return override;
  report(`the region override ${quote(override)} is not a valid AWS region; ${hintOf(rule)}`);
  return undefined;
}

// ---- The schema -----------------------------------------------------------------------------------

type SchemaNode = Record<string, unknown>;

let cached: { schema: SchemaNode; validate: ValidateFunction } | undefined;

// The validator was compiled from the schema by the build; the schema itself is read for the
// titles, examples and hints that make the messages.
function loadSchema(): { schema: SchemaNode; validate: ValidateFunction } {
  cached ??= { schema: JSON.parse(readFileSync(specSchemaPath(), 'utf8')) as SchemaNode, validate: validateSpecSchema };
  return cached;
}

function specValidator(): ValidateFunction {
  return loadSchema().validate;
}

/** The subschema at a JSON path into the schema, e.g. ['properties', 'region']; {} if absent. */
function schemaAt(path: string[]): SchemaNode {
  let node: unknown = loadSchema().schema;
  for (const key of path) node = isRecord(node) ? node[key] : undefined;
  return isRecord(node) ? node : {};
}

/** "the keys name, region, vpc, zones, nat (optional: opsworks)" */
function rootKeys(): string {
  return mappingKeys(loadSchema().schema);
}

// ---- Schema errors as sentences -------------------------------------------------------------------

interface SchemaProblem {
  /** The field the problem is about (for an unknown or missing key: that key). */
  path: Path;
  /** Where to point: the value at this path, or the key of the last segment. */
  locateAt: Path;
  target: 'value' | 'key';
  message: string;
  /** True when the value at `path` is unusable, so the semantic rules must skip it. */
  taints: boolean;
}

/**
 * Keywords that judge one value. A value breaking several (say minLength and pattern) gets one
 * problem, from the first keyword in this list it breaks.
 */
const VALUE_KEYWORDS = ['type', 'enum', 'minLength', 'pattern', 'maxLength', 'minItems', 'minimum', 'maximum'];

/**
 * uniqueItems (layer packages) is in the schema for editors; rules.ts reports each repeated item at
 * its own position instead, naming the first.
 */
function withoutRuleChecks(errors: ErrorObject[]): ErrorObject[] {
  return errors.filter((error) => error.keyword !== 'uniqueItems');
}

/**
 * A value that may take several forms (anyOf: nat.elasticIps is true or a list) is judged as the
 * form its type is (a list with a malformed item gets that item's problem); a value of none of
 * them gets one problem naming the forms, not one per form it is not.
 */
function oneFormEach(errors: ErrorObject[]): ErrorObject[] {
  let kept = errors;
  for (const choice of errors.filter((error) => error.keyword === 'anyOf')) {
    const forms = (Array.isArray(choice.schema) ? choice.schema : []) as SchemaNode[];
    const chosen = forms.findIndex((form) => hasType(choice.data, form.type));
    const inForm = (error: ErrorObject, i: number) => error.schemaPath.startsWith(`${choice.schemaPath}/${i}/`);
    kept = kept.filter((error) => (error === choice ? chosen < 0 : !forms.some((_, i) => i !== chosen && inForm(error, i))));
  }
  return kept;
}

function hasType(value: unknown, type: unknown): boolean {
  if (type === 'array') return Array.isArray(value);
  if (type === 'object') return isRecord(value);
  if (type === 'integer') return Number.isInteger(value);
  return typeof value === type;
}

function keepOnePerValue(errors: ErrorObject[]): ErrorObject[] {
  const rank = (error: ErrorObject): number => VALUE_KEYWORDS.indexOf(error.keyword);
  const best = new Map<string, ErrorObject>();
  for (const error of errors) {
    if (rank(error) < 0) continue;
    const current = best.get(error.instancePath);
    if (!current || rank(error) < rank(current)) best.set(error.instancePath, error);
  }
  return errors.filter((error) => rank(error) < 0 || best.get(error.instancePath) === error);
}

/**
 * A misspelt key ("cdir") also makes the real one ("cidr") missing. The unknown-key problem already
 * says "did you mean "cidr"?", so the missing-field problem for that key is dropped.
 */
function dropMissingMisspelt(errors: ErrorObject[]): ErrorObject[] {
  const misspelt = new Set<string>();
  for (const error of errors) {
    if (error.keyword !== 'additionalProperties' || !isRecord(error.parentSchema)) continue;
    const allowed = Object.keys(isRecord(error.parentSchema.properties) ? error.parentSchema.properties : {});
    const guess = closest(String(error.params.additionalProperty), allowed);
    if (guess !== undefined) misspelt.add(`${error.instancePath}/${guess}`);
  }
  return errors.filter(
    (error) => error.keyword !== 'required' || !misspelt.has(`${error.instancePath}/${String(error.params.missingProperty)}`),
  );
}

/**
 * `source` gives the text of the scalar at a path as written in the YAML, to tell a user whose
 * version 11.10 YAML read as the number 11.1 to quote it.
 */
function describeSchemaError(error: ErrorObject, data: unknown, source: (path: Path) => string | undefined): SchemaProblem {
  const path = pointerToPath(error.instancePath, data);
  const value: unknown = error.data;
  const schema = isRecord(error.parentSchema) ? error.parentSchema : {};
  const valueProblem = (message: string): SchemaProblem => ({ path, locateAt: path, target: 'value', message, taints: true });

  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty);
      const allowed = Object.keys(isRecord(schema.properties) ? schema.properties : {});
      const where = path.length === 0 ? 'at the top level' : `in ${formatPath(path)}`;
      const guess = closest(key, allowed);
      const fix = guess ? `did you mean "${guess}"?` : 'remove it';
      return {
        path: [...path, key],
        locateAt: [...path, key],
        target: 'key',
        message: `${quote(key)} is not a known key; ${fix} (allowed ${where}: ${listKeys(allowed)})`,
        taints: true,
      };
    }
    case 'required': {
      const key = String(error.params.missingProperty);
      const properties = isRecord(schema.properties) ? schema.properties : {};
      const field = isRecord(properties[key]) ? properties[key] : {};
      return {
        path: [...path, key],
        locateAt: path,
        target: 'value',
        message: `is required but missing; ${howToAdd(key, field)}`,
        taints: false,
      };
    }
    case 'type': {
      const written = typeof value === 'number' || typeof value === 'boolean' ? source(path) : undefined;
      if (schema.type === 'string' && written !== undefined && wouldPassQuoted(written, schema)) {
        return valueProblem(
          `is ${describeValue(value)}, because YAML reads ${written} unquoted as a ${typeof value}; write it quoted: "${written}"`,
        );
      }
      return valueProblem(`${value === null ? 'has no value' : `is ${describeValue(value)}`}; expected ${expected(schema)}`);
    }
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      const guess = typeof value === 'string' ? closest(value, (error.params.allowedValues as unknown[]).map(String)) : undefined;
      const fix =
        guess && guess !== value
          ? `did you mean "${guess}"?`
          : allowed.length === 1
            ? `use ${allowed[0]}`
            : `use one of ${allowed.join(', ')}`;
      return valueProblem(`${quote(value)} is not a supported ${noun(schema)}; ${fix}`);
    }
    case 'pattern':
      return valueProblem(`${quote(value)} is not a valid ${noun(schema)}; ${hintOf(schema)}`);
    case 'minLength':
      return valueProblem(`is empty; ${hintOf(schema)}`);
    case 'maxLength':
      return valueProblem(`is ${String(value).length} characters long; use at most ${String(error.params.limit)}`);
    case 'anyOf': {
      const forms = ((Array.isArray(error.schema) ? error.schema : []) as SchemaNode[]).map(expected);
      return valueProblem(`${value === null ? 'has no value' : `is ${describeValue(value)}`}; expected ${forms.join(', or ')}`);
    }
    case 'minimum':
    case 'maximum':
      return valueProblem(`is ${String(value)}, too ${error.keyword === 'minimum' ? 'small' : 'large'}; ${rangeOf(schema)}`);
    case 'minItems': {
      const count = Array.isArray(value) ? value.length : 0;
      const items = isRecord(schema.items) ? noun(schema.items) : 'item';
      const limit = Number(error.params.limit);
      return valueProblem(`has ${count} ${plural(items, count)}; give at least ${limit} ${plural(items, limit)}`);
    }
    default:
      // Not produced by the current schema; kept readable rather than guessed at.
      return valueProblem(
        `breaks the schema's "${error.keyword}" rule (${error.message ?? 'no details'}); see schemas/dupsworks.schema.json`,
      );
  }
}

/** True when the text, as a string, would meet the string schema's pattern and length limits. */
function wouldPassQuoted(text: string, schema: SchemaNode): boolean {
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(text)) return false;
  if (typeof schema.minLength === 'number' && text.length < schema.minLength) return false;
  if (typeof schema.maxLength === 'number' && text.length > schema.maxLength) return false;
  return !Array.isArray(schema.enum) || schema.enum.includes(text);
}

/** "add it, such as cidr: 10.0.0.0/16" and the like, from the missing field's subschema. */
function howToAdd(key: string, field: SchemaNode): string {
  if (field.type === 'object') return `add "${key}:" as a mapping with ${mappingKeys(field)}`;
  if (field.type === 'array') {
    const least = typeof field.minItems === 'number' ? ` of at least ${field.minItems}` : '';
    const items = isRecord(field.items) ? noun(field.items) : 'item';
    return `add "${key}:" as a list${least} ${plural(items, 2)}`;
  }
  const example = Array.isArray(field.examples) ? field.examples[0] : undefined;
  return example === undefined ? `add "${key}:"` : `add it, such as "${key}: ${String(example)}"`;
}

/** "a mapping with the keys name, cidr", "a string, such as 10.0.0.0/16", "a list of zones". */
function expected(schema: SchemaNode): string {
  switch (schema.type) {
    case 'object':
      return `a mapping with ${mappingKeys(schema)}`;
    case 'array':
      return `a list of ${plural(isRecord(schema.items) ? noun(schema.items) : 'item', 2)}`;
    case 'string': {
      const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
      return example === undefined ? 'a string' : `a string, such as ${String(example)}`;
    }
    case 'boolean':
      return 'true or false';
    case 'integer': {
      const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
      return `a whole number${example === undefined ? '' : `, such as ${String(example)}`}`;
    }
    default:
      return `a value of type ${String(schema.type)}`;
  }
}

/** "give a whole number from 50 to 10000" for a number's subschema. */
function rangeOf(schema: SchemaNode): string {
  return `give a whole number from ${String(schema.minimum)} to ${String(schema.maximum)}`;
}

/** The right form of a value: the schema's patternErrorMessage as a clause, or an example. */
function hintOf(schema: SchemaNode): string {
  if (typeof schema.patternErrorMessage === 'string') {
    const text = schema.patternErrorMessage.replace(/\.$/, '');
    return text.charAt(0).toLowerCase() + text.slice(1);
  }
  const example = Array.isArray(schema.examples) ? schema.examples[0] : undefined;
  return example === undefined ? 'give a value' : `give a value such as ${String(example)}`;
}

/**
 * A schema's title as a noun inside a sentence: "Stack name" -> "stack name"; a first word with a
 * capital after its first letter stays ("AWS region", "OpsWorks service role ARN").
 */
function noun(schema: SchemaNode): string {
  const title = typeof schema.title === 'string' ? schema.title : 'value';
  const firstWord = title.split(' ')[0] ?? '';
  const keep = (firstWord.length > 1 && firstWord === firstWord.toUpperCase()) || /^.+[A-Z]/.test(firstWord);
  return keep ? title : title.charAt(0).toLowerCase() + title.slice(1);
}

function plural(word: string, count: number): string {
  return count === 1 || word.endsWith('s') ? word : `${word}s`;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  if (typeof value === 'string') return `a string (${quote(value)})`;
  return `a ${typeof value} (${shorten(String(value))})`;
}

function describeNode(node: Node): string {
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return `a single ${typeof node.value} (${quote(node.value)})`;
  return 'not a mapping';
}

function listKeys(keys: string[]): string {
  return keys.join(', ');
}

/** "the keys manager, instanceType (optional: imageId, keyName)" for an object subschema. */
function mappingKeys(schema: SchemaNode): string {
  const all = Object.keys(isRecord(schema.properties) ? schema.properties : {});
  const required = Array.isArray(schema.required) ? all.filter((key) => (schema.required as unknown[]).includes(key)) : all;
  const optional = all.filter((key) => !required.includes(key));
  if (required.length === 0) return `the optional keys ${listKeys(optional)}`;
  return `the keys ${listKeys(required)}${optional.length > 0 ? ` (optional: ${listKeys(optional)})` : ''}`;
}

/**
 * The candidate closest to `word`, ignoring case, if it is within edit distance 2 (1 for words of
 * up to 3 characters, so that "a" does not suggest "nat"). Failing that, the one candidate that
 * starts with `word` (at least 3 characters): a long name typed in part, such as "Ubuntu 12.04"
 * for "Ubuntu 12.04 LTS".
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = (word.length <= 3 ? 1 : 2) + 1;
  for (const candidate of candidates) {
    // The distance is at least the difference in length: a long word is not compared at all.
    if (Math.abs(candidate.length - lower.length) >= bestDistance) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined || word.length < 3) return best;
  const starting = candidates.filter((candidate) => candidate.toLowerCase().startsWith(lower));
  return starting.length === 1 ? starting[0] : undefined;
}

/**
 * Edit distance: the fewest single-character insertions, deletions, substitutions and swaps of two
 * neighbours ("vcp" -> "vpc" is 1) that turn a into b.
 */
export function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the table whose cell j is the distance between the first i characters
  // of a and the first j of b; three rows are all a swap needs, and they are reused.
  let older = new Int32Array(b.length + 1);
  let previous = Int32Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, older[j - 2]! + 1);
      current[j] = best;
    }
    [older, previous, current] = [previous, current, older];
  }
  return previous[b.length]!;
}

// ---- Positions --------------------------------------------------------------------------------------

/** Turns ajv's JSON pointer ("/zones/1/publicSubnet") into a path, using the data to tell indexes from keys. */
function pointerToPath(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const path: (string | number)[] = [];
  let value = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value)) {
      path.push(Number(key));
      value = value[Number(key)];
    } else {
      path.push(key);
      value = isRecord(value) ? value[key] : undefined;
    }
  }
  return path;
}

/**
 * The source offset of the node at `path`: its value, or with target 'key' the key of the last
 * segment. A missing or empty value points at its key; a missing key at the deepest mapping that
 * exists on the way. Aliases are followed; with duplicate keys the last one counts, as in toJS().
 */
function locateNode(document: Document, path: Path, target: 'value' | 'key'): number {
  let node: unknown = document.contents;
  let offset = rangeStart(node) ?? 0;
  for (const [i, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(document);
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = pairOf(node, segment);
      if (!pair) return offset;
      const keyOffset = rangeStart(pair.key) ?? offset;
      const empty = pair.value === null || (isScalar(pair.value) && pair.value.source === '' && pair.value.value === null);
      if ((last && target === 'key') || empty) return keyOffset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
    } else {
      return offset;
    }
    offset = rangeStart(node) ?? offset;
  }
  return offset;
}

/**
 * The text of the scalar at `path` as written (such as 11.10 for a value YAML read as 11.1), when
 * it is a plain scalar; undefined otherwise. Follows aliases and takes the last of duplicate keys.
 */
function scalarSource(document: Document, text: string, path: Path): string | undefined {
  let node: unknown = document.contents;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) node = pairOf(node, segment)?.value;
    else if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
    else return undefined;
  }
  if (isAlias(node)) node = node.resolve(document);
  if (!isScalar(node) || node.type !== 'PLAIN' || !node.range) return undefined;
  return text.slice(node.range[0], node.range[1]);
}

const pairsByKey = new WeakMap<YAMLMap, Map<string, Pair>>();

/**
 * The pair of `map` whose key is `key` (with duplicate keys, the last, as toJS() reads it). Indexed
 * once per mapping: a spec with thousands of unknown keys is located in linear time.
 */
function pairOf(map: YAMLMap, key: string | number): Pair | undefined {
  let index = pairsByKey.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items) index.set(keyText(pair.key) ?? '', pair);
    pairsByKey.set(map, index);
  }
  return index.get(String(key));
}

function rangeStart(node: unknown): number | undefined {
  return (isScalar(node) || isCollection(node) || isAlias(node)) && node.range ? node.range[0] : undefined;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? undefined : String(key);
}

/** Keys that appear twice in one mapping, anywhere in the document (aliases are not followed). */
function findDuplicateKeys(node: unknown, path: Path): { key: string; path: Path; offset: number; first: number }[] {
  const found: { key: string; path: Path; offset: number; first: number }[] = [];
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      const key = keyText(pair.key) ?? '';
      const offset = rangeStart(pair.key) ?? 0;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, offset);
      else found.push({ key, path: [...path, key], offset, first });
      found.push(...findDuplicateKeys(pair.value, [...path, key]));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => found.push(...findDuplicateKeys(item, [...path, index])));
  }
  return found;
}

// ---- Small helpers ----------------------------------------------------------------------------------

function sortProblems(problems: Problem[]): Problem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => a.problem.line - b.problem.line || a.problem.column - b.problem.column || a.index - b.index)
    .map(({ problem }) => problem);
}

function unreadable(error: unknown): string {
  const code = isRecord(error) && typeof error.code === 'string' ? error.code : '';
  switch (code) {
    case 'ENOENT':
      return 'cannot read the file: it does not exist; check the path';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the file: permission denied; check its permissions';
    case 'EISDIR':
      return 'cannot read the file: it is a directory; give the path of a YAML spec file';
    default:
      return `cannot read the file: ${error instanceof Error ? error.message : String(error)}; check the path`;
  }
}

/** A value as a message shows it: JSON, cut short past a line's worth of characters. */
function quote(value: unknown): string {
  return shorten(JSON.stringify(value) ?? String(value));
}

/** Text the user wrote (a path with an unknown key), cut short the same way. */
function shorten(text: string): string {
  return text.length <= SHOWN_CHARS ? text : `${text.slice(0, SHOWN_CHARS)}... (${text.length} characters)`;
}

const SHOWN_CHARS = 60;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
