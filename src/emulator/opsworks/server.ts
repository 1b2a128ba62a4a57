// The HTTP face of the emulator. AWS JSON 1.1, as OpsWorks spoke it: `POST /` with
// `X-Amz-Target: OpsWorks_20130218.<Operation>` and a JSON body; answers in
// `application/x-amz-json-1.1` with an `x-amzn-RequestId`, errors as `{"__type", "message"}`.
// Signatures are not checked: any credentials do, as with moto.
//
// Beside the protocol, for tests (like moto's /moto-api/):
//   POST /__emulator/reset                              forget everything
//   POST /__emulator/instances/<InstanceId>/status      {"Status": "setup_failed"}: force a status

import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { INSTANCE_STATUSES } from './catalog.js';
import { OpsWorksError, serializationError } from './errors.js';
import { OPERATIONS } from './operations.js';
import type { Service } from './service.js';

const TARGET_PREFIX = 'OpsWorks_20130218.';
const AWS_JSON = 'application/x-amz-json-1.1';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface Listening {
  endpoint: string;
  close(): Promise<void>;
}

export async function listen(service: Service, host: string, port: number, reset: () => void): Promise<Listening> {
  const server = http.createServer((req, res) => {
    handle(service, reset, req, res).catch((error: unknown) => {
      service.log(`internal error: ${(error as Error)?.stack ?? error}`);
      if (!res.headersSent) reply(res, 500, { __type: 'InternalFailure', message: 'internal error' }, randomUUID());
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    endpoint: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(service: Service, reset: () => void, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const started = Date.now();
  const requestId = randomUUID();
  const path = new URL(req.url ?? '/', 'http://emulator').pathname;
  const text = await readBody(req);
  let label = `${req.method} ${path}`;
  let status: number;
  if (req.method === 'POST' && path.startsWith('/__emulator/')) {
    status = control(service, reset, path, text, res, requestId);
  } else {
    const target = String(req.headers['x-amz-target'] ?? '');
    label = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : label;
    status = await awsJson(service, req.method === 'POST' && path === '/' ? target : '', text, res, requestId);
  }
  service.log(`${label} ${status} ${Date.now() - started}ms`);
}

async function awsJson(service: Service, target: string, text: string, res: http.ServerResponse, requestId: string): Promise<number> {
  const name = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
  const handler = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  try {
    if (!handler) throw new OpsWorksError('UnknownOperationException', `Unknown operation ${target || '(no X-Amz-Target)'}`);
    const result = await handler(parseJson(text), service);
    return reply(res, 200, result, requestId);
  } catch (error) {
    if (error instanceof OpsWorksError) return reply(res, error.httpStatus, { __type: error.type, message: error.message }, requestId);
    service.log(`${name}: internal error: ${(error as Error)?.stack ?? error}`);
    return reply(res, 500, { __type: 'InternalFailure', message: (error as Error)?.message ?? String(error) }, requestId);
  }
}

function control(service: Service, reset: () => void, path: string, text: string, res: http.ServerResponse, requestId: string): number {
  if (path === '/__emulator/reset') {
    reset();
    return reply(res, 200, {}, requestId, 'application/json');
  }
  const match = /^\/__emulator\/instances\/([^/]+)\/status$/.exec(path);
  if (!match) return reply(res, 404, { message: `No such control endpoint: ${path}` }, requestId, 'application/json');
  const record = service.state.instances.get(decodeURIComponent(match[1]!));
  if (!record) return reply(res, 404, { message: `Unable to find instance with ID ${match[1]}` }, requestId, 'application/json');
  let wanted: unknown;
  try {
    wanted = (parseJson(text) as { Status?: unknown }).Status;
  } catch {
    wanted = undefined;
  }
  if (typeof wanted !== 'string' || !INSTANCE_STATUSES.has(wanted)) {
    const known = [...INSTANCE_STATUSES].join(', ');
    return reply(res, 400, { message: `Body must be {"Status": "<status>"} with one of: ${known}` }, requestId, 'application/json');
  }
  service.lifecycle.force(record, wanted);
  return reply(res, 200, {}, requestId, 'application/json');
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw serializationError('The request body is not valid JSON');
  }
}

function reply(res: http.ServerResponse, status: number, body: object, requestId: string, contentType = AWS_JSON): number {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': requestId,
  });
  res.end(payload);
  return status;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error(`request body over ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
