// Errors as data. Every failure the engine reports carries a code and who is at fault — the user
// (a setting, credentials, a lock someone else holds, an interrupt), AWS (a service that refused or
// failed) or the program (a bug) — so a host can decide what to print, log or retry without
// reading messages.

import { formatPath } from './spec/rules.js';

export type Fault = 'user' | 'aws' | 'program';

/** A failure as the engine reports it in step outcomes and events. */
export interface ErrorInfo {
  code: string;
  fault: Fault;
  message: string;
}

/** A failure the engine already understands; its message is meant for the user as it is. */
export class DupsworksError extends Error implements ErrorInfo {
  constructor(
    readonly code: string,
    readonly fault: Fault,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

// AWS answers these when the caller's identity or permissions are wrong: the user fixes them.
const CALLER_CODES =
  /^(AuthFailure|UnauthorizedOperation|AccessDenied(Exception)?|InvalidClientTokenId|UnrecognizedClientException|SignatureDoesNotMatch|ExpiredToken(Exception)?|OptInRequired|InvalidSignatureException|MissingAuthenticationToken)$/;

// JavaScript's own errors: something in the program is wrong, whatever the input.
const PROGRAM_ERRORS = new Set(['TypeError', 'ReferenceError', 'RangeError']);

export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof DupsworksError) return { code: error.code, fault: error.fault, message: error.message };
  const message = describeError(error);
  if (!(error instanceof Error)) return { code: 'Error', fault: 'program', message };
  const e = error as Error & { code?: string; $fault?: string; $metadata?: unknown };
  if (PROGRAM_ERRORS.has(e.name) || e.message.startsWith('internal:')) return { code: e.name, fault: 'program', message };
  const code = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'Error');
  if (CALLER_CODES.test(code)) return { code, fault: 'user', message };
  // Service errors, network failures and waits that ran out all come from the AWS side.
  return { code, fault: 'aws', message };
}

/** One line for a user: the AWS error code (when there is one) and its message. */
export function describeError(error: unknown): string {
  if (error instanceof DupsworksError) return error.message;
  if (error instanceof Error) {
    const code = (error as { name?: string }).name;
    return code && code !== 'Error' && !error.message.startsWith(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** A field of the spec and what is wrong with it, found only by asking AWS. */
export interface SpecProblem {
  /** The field, e.g. ['nat', 'instanceType']. */
  path: readonly (string | number)[];
  /** What is wrong and what would be right. */
  message: string;
}

/**
 * The spec names what the account or region does not have (an instance type the region does not
 * offer): found at plan time, before any change. A host that knows where the spec came from shows
 * each problem at its field's position, as validate does.
 */
export class SpecRejected extends DupsworksError {
  constructor(readonly problems: readonly SpecProblem[]) {
    super('SpecRejected', 'user', problems.map((p) => `${formatPath(p.path)}: ${p.message}`).join('; '));
  }
}
