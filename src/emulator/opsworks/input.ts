// Reading a request body: required members present, every member we look at of the type the
// service model says. Members we do not look at pass through, as the real service ignored what it
// did not use.

import { serializationError, validationError } from './errors.js';

export type Kind = 'string' | 'boolean' | 'integer' | 'strings' | 'object' | 'stringMap';

export type Shape<T> = { readonly [K in keyof T & string]?: Kind };

export function readInput<T>(body: unknown, shape: Shape<T>, required: readonly (keyof T & string)[] = []): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw serializationError('The request body must be a JSON object');
  }
  const input = body as Record<string, unknown>;
  for (const [name, kind] of Object.entries(shape) as [string, Kind][]) {
    const value = input[name];
    if (value !== undefined && value !== null && !isKind(value, kind)) {
      throw serializationError(`${name} must be ${DESCRIPTIONS[kind]}`);
    }
  }
  // The wording of AWS's request validation, one clause per member, all of them at once.
  const problems = required.flatMap((name) => {
    const value = input[name];
    if (value === undefined || value === null) return [`Value null at '${name}' failed to satisfy constraint: Member must not be null`];
    if (value === '') return [`Value '' at '${name}' failed to satisfy constraint: Member must have length greater than or equal to 1`];
    return [];
  });
  if (problems.length > 0) {
    const count = `${problems.length} validation error${problems.length === 1 ? '' : 's'} detected`;
    throw validationError(`${count}: ${problems.join('; ')}`);
  }
  return input as T;
}

const DESCRIPTIONS: Record<Kind, string> = {
  string: 'a string',
  boolean: 'a boolean',
  integer: 'an integer',
  strings: 'a list of strings',
  object: 'an object',
  stringMap: 'a map of strings to strings',
};

function isKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isInteger(value);
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'stringMap':
      return isKind(value, 'object') && Object.values(value as object).every((v) => typeof v === 'string');
  }
}

/** Custom JSON reaches Chef as node attributes, so it must be a JSON object; an empty string clears it. */
export function checkCustomJson(field: string, text: string | undefined): void {
  if (text === undefined || text === '') return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw validationError(`${field}: the value must be valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw validationError(`${field}: the value must be a JSON object`);
  }
}

export function checkOneOf(field: string, value: string | undefined, allowed: Iterable<string>): void {
  if (value === undefined) return;
  const list = [...allowed];
  if (!list.includes(value)) throw validationError(`${field}: ${value} is not valid; use one of: ${list.join(', ')}`);
}

export function checkArn(field: string, value: string | undefined, resource: RegExp, what: string): void {
  if (value === undefined) return;
  if (!new RegExp(`^arn:aws[a-z-]*:iam::\\d{12}:${resource.source}$`).test(value)) {
    throw validationError(`${field}: ${value} is not a valid ${what} ARN`);
  }
}
