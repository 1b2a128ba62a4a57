// Every AWS call is bounded (connect and request timeouts) and every endpoint is judged by its
// first answer. Until an endpoint has answered once in its service's protocol, failing to reach
// it (refused, no such host, no answer in time) or getting something else back (an HTML page, a
// server that is not HTTP) is a setting to fix, not a blip: the run stops at once with one line
// naming the endpoint and what sets it, instead of retrying for minutes. Once it has answered, the
// same failures are transient (retry.ts retries them), except a reply that is not the protocol
// and not a server error, which is never a valid answer (EC2 would read an HTML page as an empty
// listing).

import { DupsworksError } from '../errors.js';

export interface EndpointSetting {
  /** The service as users know it: "EC2", "OpsWorks". */
  service: string;
  /** The endpoint the user set, if any (else the SDK's default for the region, or its environment variables). */
  endpoint?: string;
  /** What sets it: "--endpoint-url (or AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL)". */
  setBy: string;
  requestTimeoutSeconds: number;
}

export interface Timeouts {
  /** Seconds to establish a connection. */
  connectSeconds: number;
  /** Seconds from sending a request to the end of its response. */
  requestSeconds: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectSeconds: 3, requestSeconds: 60 };

/** The SDK client settings that bound every request. */
export function boundedRequests(timeouts: Timeouts) {
  return {
    requestHandler: {
      connectionTimeout: timeouts.connectSeconds * 1000,
      requestTimeout: timeouts.requestSeconds * 1000,
      throwOnRequestTimeout: true,
    },
  };
}

// Node's names for "could not get an HTTP answer from there at all".
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

interface MiddlewareStack {
  // The SDK's overloads per step do not reduce to one signature.
  add(middleware: any, options: any): void; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Installs the guard on an SDK v3 client; returns the client. */
export function guardEndpoint<T extends { middlewareStack: MiddlewareStack }>(client: T, setting: EndpointSetting): T {
  let answered = false;
  const middleware =
    (next: (args: { request: unknown }) => Promise<{ response: unknown }>) =>
    async (args: { request: unknown }): Promise<{ response: unknown }> => {
      const where = urlOf(args.request);
      let out: { response: unknown };
      try {
        out = await next(args);
      } catch (error) {
        if (!answered) throw firstContactFailure(error, where, setting);
        throw error;
      }
      const response = out.response as { statusCode?: number; headers?: Record<string, string> };
      const status = response.statusCode ?? 0;
      if (/text\/html/i.test(header(response.headers, 'content-type'))) {
        // A load balancer's error page after real answers: a server error like any other.
        if (answered && status >= 500) return out;
        throw notTheProtocol(where, setting, `it answered with an HTML page, HTTP ${status}`);
      }
      answered = true;
      return out;
    };
  // Lowest priority in the last step: between the deserializer and the wire, so it sees the raw reply.
  client.middlewareStack.add(middleware, { step: 'deserialize', priority: 'low', name: 'dupsworksEndpointGuard' });
  return client;
}

function firstContactFailure(error: unknown, where: string, setting: EndpointSetting): unknown {
  const e = error as { name?: string; code?: string; message?: string };
  const code = e?.code ?? '';
  if (code.startsWith('HPE_') || code === 'EPROTO' || code.startsWith('ERR_SSL')) {
    return notTheProtocol(
      where,
      setting,
      `it did not answer in HTTP${code === 'EPROTO' || code.startsWith('ERR_SSL') ? 'S' : ''} (${code})`,
    );
  }
  if (/Deserialization error/.test(e?.message ?? '')) return notTheProtocol(where, setting, 'its reply could not be read');
  if (e?.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    const connecting = /without establishing a connection/.test(e?.message ?? '');
    return new DupsworksError(
      'EndpointTimeout',
      'user',
      connecting
        ? `cannot reach the ${setting.service} endpoint ${where}: no connection within the connect timeout (--connect-timeout); ${fix(setting)}`
        : `the ${setting.service} endpoint ${where} accepted the connection but did not answer within ${setting.requestTimeoutSeconds}s (--request-timeout); ${fix(setting)}`,
    );
  }
  if (UNREACHABLE.has(code)) {
    return new DupsworksError(
      'EndpointUnreachable',
      'user',
      `cannot reach the ${setting.service} endpoint ${where} (${code}); ${fix(setting)}`,
    );
  }
  return error;
}

function notTheProtocol(where: string, setting: EndpointSetting, what: string): DupsworksError {
  return new DupsworksError(
    'NotAwsProtocol',
    'user',
    `${where} does not speak the ${setting.service} API (${what}); set ${setting.setBy} to the ${setting.service} endpoint`,
  );
}

function fix(setting: EndpointSetting): string {
  return setting.endpoint
    ? `check that it is running, or set ${setting.setBy} to the right one`
    : `check the network (and HTTPS_PROXY), the region, or set ${setting.setBy}`;
}

function urlOf(request: unknown): string {
  const r = request as { protocol?: string; hostname?: string; port?: number };
  return r?.hostname ? `${r.protocol ?? 'https:'}//${r.hostname}${r.port ? `:${r.port}` : ''}` : 'the endpoint';
}

function header(headers: Record<string, string> | undefined, name: string): string {
  const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === name);
  return key ? String(headers![key]) : '';
}
