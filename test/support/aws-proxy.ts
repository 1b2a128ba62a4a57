/**
 * Test support: a loopback HTTP proxy in front of moto_server.
 *
 * - counts requests per API action (EC2 query protocol `Action`, or the
 *   operation in the `X-Amz-Target` header for JSON protocols such as SSM);
 * - injects EC2-shaped faults: throttling (RequestLimitExceeded, 503) and
 *   server errors (InternalError 500 / Unavailable 503), drawn from a seeded
 *   PRNG so runs are reproducible;
 * - simulates the `pending` phase of freshly launched instances: for a while
 *   after an instance id first appears in a RunInstances response, operations
 *   that need a running/stopped instance fail with IncorrectInstanceState;
 * - simulates IAM's eventual consistency: for a while after an instance
 *   profile is created, RunInstances naming it fails with InvalidParameterValue,
 *   as EC2 answers before it sees the new profile;
 * - with `ec2Rules`, applies rules of real EC2 that moto skips (see EC2_RULES);
 * - loses replies on request (`loseReplies`): the call reaches moto and takes
 *   effect, then the client gets a reset connection or a 500, as when a
 *   response is lost on the way back.
 *
 * Everything not faulted is forwarded unchanged (method, path, end-to-end
 * headers including Host, body) and the response is streamed back.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { DescribeInstancesCommand, DescribeInternetGatewaysCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { mulberry32 } from './random.js';

export interface ProxyOptions {
  /** moto endpoint, e.g. http://127.0.0.1:5000 */
  target: string;
  /** Deterministic PRNG seed (default 1). Setting it via setOptions() re-seeds. */
  seed?: number;
  /** Fraction [0,1] of EC2 calls answered with RequestLimitExceeded (HTTP 503) before reaching moto. */
  throttleRate?: number;
  /** Fraction [0,1] of EC2 calls answered with InternalError (HTTP 500) or Unavailable (HTTP 503). */
  serverErrorRate?: number;
  /**
   * For this many ms after an instance id first appears in a RunInstances
   * response, calls of PENDING_SENSITIVE_ACTIONS naming that instance get
   * IncorrectInstanceState (HTTP 400).
   */
  pendingInstanceMs?: number;
  /**
   * For this many ms after CreateInstanceProfile, RunInstances with that profile gets
   * InvalidParameterValue (HTTP 400) "Invalid IAM Instance Profile".
   */
  profilePropagationMs?: number;
  /** If set, only these Actions are subject to throttle/5xx faults. */
  faultActions?: string[];
  /**
   * Answer as real EC2 does where moto does not (checked against moto's state, before forwarding):
   * - DeleteSubnet while instances are in the subnet: DependencyViolation;
   * - DetachInternetGateway while instances of the VPC hold public addresses: DependencyViolation
   *   ("mapped public address(es)");
   * - AttachInternetGateway to a VPC that has another gateway attached: Resource.AlreadyAssociated;
   * - RunInstances or CreateRouteTable repeating a ClientToken: the first call's answer again, and
   *   nothing made twice.
   */
  ec2Rules?: boolean;
}

export interface HeldCalls {
  /** How many calls wait now. */
  waiting(): number;
  /** Lets the waiting calls and every later one through. */
  release(): void;
}

/** How a lost reply reaches the client: the connection reset, or an InternalError (HTTP 500). */
export type LostReply = 'reset' | 'server-error';

export interface AwsProxy {
  endpoint: string;
  /** Requests received by API action, faulted or not. */
  calls(): Map<string, number>;
  /** Injected faults by error code. */
  faults(): Map<string, number>;
  resetCounts(): void;
  setOptions(partial: Partial<ProxyOptions>): void;
  /**
   * The next `times` (default 1) calls of `action` reach moto and take effect, then their reply is
   * lost (`as`, default 'reset'). Counted in faults() as "LostReply".
   */
  loseReplies(action: string, options?: { times?: number; as?: LostReply }): void;
  /** Calls of `action` wait here, before reaching moto, until released. */
  holdCalls(action: string): HeldCalls;
  /** Back to the options the proxy was started with: counts, faults, lost replies and remembered ClientTokens cleared. */
  reset(): void;
  stop(): Promise<void>;
}

/**
 * EC2 actions that real AWS rejects while an instance is still `pending`.
 * (Describe*, CreateTags and TerminateInstances work on pending instances and
 * are deliberately absent.)
 */
export const PENDING_SENSITIVE_ACTIONS: ReadonlySet<string> = new Set([
  'CreateRoute',
  'ReplaceRoute',
  'ModifyInstanceAttribute',
  'ModifyInstanceMetadataOptions',
  'StartInstances',
  'StopInstances',
  'RebootInstances',
  'AssociateAddress',
  'AttachNetworkInterface',
  'AttachVolume',
  'AssociateIamInstanceProfile',
  'CreateImage',
]);

/** Key used in calls() for requests that are neither EC2-query nor JSON-protocol. */
function otherKey(method: string, url: string): string {
  return `${method} ${url.split('?')[0]}`;
}

interface ParsedRequest {
  /** API action/operation name, or undefined when it can't be determined. */
  action: string | undefined;
  /** True for the EC2 query protocol (form-encoded Action=…). */
  query: boolean;
  /** All parameter values (query protocol only), used to find instance ids. */
  values: string[];
  /** The parameters (query protocol only). */
  params: URLSearchParams;
}

function parseRequest(req: http.IncomingMessage, body: Buffer): ParsedRequest {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target !== '') {
    // e.g. "AmazonSSM.GetParameter"
    const dot = target.lastIndexOf('.');
    return { action: dot >= 0 ? target.slice(dot + 1) : target, query: false, values: [], params: new URLSearchParams() };
  }
  const params = new URLSearchParams(req.url?.split('?')[1] ?? '');
  const contentType = String(req.headers['content-type'] ?? '');
  if (contentType.includes('application/x-www-form-urlencoded') && body.length > 0) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
  }
  const action = params.get('Action') ?? undefined;
  if (action === undefined) return { action: undefined, query: false, values: [], params };
  return { action, query: true, values: [...params.values()], params };
}

function ec2ErrorXml(code: string, message: string): string {
  const esc = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors>` +
    `<RequestID>${randomUUID()}</RequestID></Response>`
  );
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** rawHeaders ([k, v, k, v, …]) minus hop-by-hop headers, case and order preserved. */
function endToEndHeaders(raw: string[], extraDrop: string[] = []): string[] {
  const drop = new Set(HOP_BY_HOP);
  for (let i = 0; i < raw.length; i += 2) {
    // Also drop headers the Connection header names as hop-by-hop.
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const name of raw[i + 1]!.split(',')) drop.add(name.trim().toLowerCase());
    }
  }
  for (const name of extraDrop) drop.add(name);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function decodeBody(body: Buffer, encoding: string | undefined): string {
  try {
    switch ((encoding ?? '').trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return zlib.gunzipSync(body).toString('utf8');
      case 'deflate':
        return zlib.inflateSync(body).toString('utf8');
      case 'br':
        return zlib.brotliDecompressSync(body).toString('utf8');
      default:
        return body.toString('utf8');
    }
  } catch {
    return body.toString('utf8');
  }
}

/** Actions whose ClientToken makes a repeat return the first call's result (see ProxyOptions.ec2Rules). */
const IDEMPOTENT_ACTIONS: ReadonlySet<string> = new Set(['RunInstances', 'CreateRouteTable']);

/** moto's whole answer to one call. */
interface Reply {
  status: number;
  /** End-to-end headers, as rawHeaders pairs. */
  headers: string[];
  body: Buffer;
}

function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

function inc(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export async function startAwsProxy(options: ProxyOptions): Promise<AwsProxy> {
  const opts: ProxyOptions = { ...options };
  let target = new URL(opts.target);
  let random = mulberry32(opts.seed ?? 1);
  const calls = new Map<string, number>();
  const faults = new Map<string, number>();
  /** instance id -> time (ms) it first appeared in a RunInstances response */
  const firstSeen = new Map<string, number>();
  /** instance profile name -> when it was created */
  const profileCreated = new Map<string, number>();
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const writeEc2Error = (res: http.ServerResponse, status: number, code: string, message: string) => {
    const body = ec2ErrorXml(code, message);
    res.writeHead(status, {
      'Content-Type': 'text/xml;charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(body);
  };
  const sendEc2Error = (res: http.ServerResponse, status: number, code: string, message: string) => {
    inc(faults, code);
    writeEc2Error(res, status, code, message);
  };

  const pendingInstance = (values: string[]): string | undefined => {
    const windowMs = opts.pendingInstanceMs ?? 0;
    if (windowMs <= 0) return undefined;
    const now = Date.now();
    for (const v of values) {
      const seen = firstSeen.get(v);
      if (seen !== undefined && now - seen < windowMs) return v;
    }
    return undefined;
  };

  /** Replies to lose, by action: how many more, and how. */
  const losing = new Map<string, { times: number; as: LostReply }>();
  const takeLoss = (action: string | undefined): LostReply | undefined => {
    const loss = action === undefined ? undefined : losing.get(action);
    if (!loss) return undefined;
    if (--loss.times <= 0) losing.delete(action!);
    return loss.as;
  };
  /** Calls held before they reach moto, by action: a promise that releasing resolves, and how many wait. */
  const holding = new Map<string, { released: Promise<void>; release: () => void; waiting: number }>();
  /** The first answer to each (action, ClientToken), replayed to a repeat as EC2 does. */
  const answered = new Map<string, Reply>();

  // The proxy's own reads of moto's state (for ec2Rules), in the caller's region, uncounted.
  const clients = new Map<string, EC2Client>();
  const motoEc2 = (req: http.IncomingMessage): EC2Client => {
    const region = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'us-east-1';
    let client = clients.get(region);
    if (!client) {
      client = new EC2Client({ region, endpoint: target.origin, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
      clients.set(region, client);
    }
    return client;
  };
  const instancesWhere = async (req: http.IncomingMessage, filters: { Name: string; Values: string[] }[]): Promise<Instance[]> => {
    const out = await motoEc2(req).send(new DescribeInstancesCommand({ Filters: filters }));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  };

  /** What real EC2 would answer instead of doing the call, where moto would do it. */
  const ec2Refusal = async (req: http.IncomingMessage, parsed: ParsedRequest): Promise<[string, string] | undefined> => {
    const p = parsed.params;
    switch (parsed.action) {
      case 'DeleteSubnet': {
        const subnet = p.get('SubnetId') ?? '';
        const inside = await instancesWhere(req, [
          { Name: 'subnet-id', Values: [subnet] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
        ]);
        return inside.length > 0 ? ['DependencyViolation', `The subnet '${subnet}' has dependencies and cannot be deleted.`] : undefined;
      }
      case 'DetachInternetGateway': {
        const vpc = p.get('VpcId') ?? '';
        const mapped = (
          await instancesWhere(req, [
            { Name: 'vpc-id', Values: [vpc] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'shutting-down'] },
          ])
        ).filter((i) => i.PublicIpAddress);
        return mapped.length > 0
          ? [
              'DependencyViolation',
              `Network ${vpc} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.`,
            ]
          : undefined;
      }
      case 'AttachInternetGateway': {
        const vpc = p.get('VpcId') ?? '';
        const out = await motoEc2(req).send(
          new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc] }] }),
        );
        const other = out.InternetGateways?.some((g) => g.InternetGatewayId !== p.get('InternetGatewayId'));
        return other ? ['Resource.AlreadyAssociated', `Network ${vpc} already has an internet gateway attached`] : undefined;
      }
      default:
        return undefined;
    }
  };

  const deliver = (res: http.ServerResponse, outcome: Reply | LostReply): void => {
    if (outcome === 'reset') {
      res.destroy();
    } else if (outcome === 'server-error') {
      writeEc2Error(res, 500, 'InternalError', 'An internal error has occurred.');
    } else {
      res.writeHead(outcome.status, outcome.headers);
      res.end(outcome.body);
    }
  };

  /**
   * Sends the call to moto. Without `inspect` its answer streams back as it comes; with it, the
   * whole answer is read first and `inspect` says what the client gets: that answer, or none.
   */
  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
    protocol: 'query' | 'json' | 'other',
    inspect?: (reply: Reply) => Reply | LostReply,
  ) => {
    const upstream = http.request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // Host and every other end-to-end header unchanged; the body was
        // buffered, so frame it with an exact Content-Length.
        headers: [...endToEndHeaders(req.rawHeaders, ['content-length']), 'Content-Length', String(body.length)],
        agent: upstreamAgent,
      },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        const headers = endToEndHeaders(upRes.rawHeaders);
        if (!inspect) {
          res.writeHead(status, headers);
          upRes.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upRes.on('end', () => deliver(res, inspect({ status, headers, body: Buffer.concat(chunks) })));
        upRes.on('error', (err) => res.destroy(err));
      },
    );
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      // Not an injected fault (not counted in faults()): moto is unreachable.
      // Answer in the caller's protocol so the SDK error carries this message.
      const msg = `aws-proxy: upstream ${opts.target} failed: ${err.message}`;
      let body: string;
      let contentType: string;
      if (protocol === 'query') {
        body = ec2ErrorXml('ProxyUpstreamError', msg);
        contentType = 'text/xml;charset=UTF-8';
      } else if (protocol === 'json') {
        body = JSON.stringify({ __type: 'ProxyUpstreamError', message: msg });
        contentType = 'application/x-amz-json-1.1';
      } else {
        body = msg;
        contentType = 'text/plain';
      }
      res.writeHead(502, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    // If the client goes away, don't leave the upstream request dangling.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> => {
    const parsed = parseRequest(req, body);
    inc(calls, parsed.action ?? otherKey(req.method ?? 'GET', req.url ?? '/'));
    const action = parsed.query ? parsed.action : undefined;

    if (action !== undefined) {
      // Draw the same three numbers for every EC2 call, in a fixed order, so the fault
      // sequence depends only on the seed and the order of calls.
      const rThrottle = random();
      const rServer = random();
      const rKind = random();
      const eligible = opts.faultActions === undefined || opts.faultActions.includes(action);
      if (eligible && rThrottle < (opts.throttleRate ?? 0)) {
        sendEc2Error(res, 503, 'RequestLimitExceeded', 'Request limit exceeded.');
        return;
      }
      if (eligible && rServer < (opts.serverErrorRate ?? 0)) {
        if (rKind < 0.5) sendEc2Error(res, 500, 'InternalError', 'An internal error has occurred.');
        else sendEc2Error(res, 503, 'Unavailable', "The server is overloaded and can't handle the request.");
        return;
      }
      if (action === 'CreateInstanceProfile') profileCreated.set(parsed.params.get('InstanceProfileName') ?? '', Date.now());
      if (action === 'RunInstances') {
        const arn = parsed.params.get('IamInstanceProfile.Arn') ?? '';
        const created = profileCreated.get(arn.split('/').pop() ?? '');
        if (created !== undefined && Date.now() - created < (opts.profilePropagationMs ?? 0)) {
          sendEc2Error(
            res,
            400,
            'InvalidParameterValue',
            `Value (${arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`,
          );
          return;
        }
      }
      if (PENDING_SENSITIVE_ACTIONS.has(action)) {
        const id = pendingInstance(parsed.values);
        if (id !== undefined) {
          sendEc2Error(res, 400, 'IncorrectInstanceState', `The instance '${id}' is not in a valid state for this operation.`);
          return;
        }
      }
    }
    const held = action === undefined ? undefined : holding.get(action);
    if (held) {
      held.waiting++;
      await held.released;
      held.waiting--;
    }
    const token = opts.ec2Rules && action && IDEMPOTENT_ACTIONS.has(action) ? parsed.params.get('ClientToken') : null;
    const tokenKey = token ? `${action}:${token}` : undefined;
    if (opts.ec2Rules && action !== undefined) {
      const refusal = await ec2Refusal(req, parsed);
      if (refusal) {
        sendEc2Error(res, 400, ...refusal);
        return;
      }
    }
    const loss = takeLoss(action);
    if (loss) inc(faults, 'LostReply');
    const replayed = tokenKey === undefined ? undefined : answered.get(tokenKey);
    if (replayed) {
      deliver(res, loss ?? replayed);
      return;
    }
    const learnInstances = action === 'RunInstances';
    const inspect =
      !learnInstances && !loss && tokenKey === undefined
        ? undefined
        : (reply: Reply): Reply | LostReply => {
            const ok = reply.status >= 200 && reply.status < 300;
            if (ok && learnInstances) {
              // Record the instance ids *before* answering, so a client acting on the answer can
              // never beat the pending-window bookkeeping.
              const text = decodeBody(reply.body, headerValue(reply.headers, 'content-encoding'));
              const now = Date.now();
              for (const m of text.matchAll(/<instanceId>\s*(i-[0-9a-zA-Z]+)\s*<\/instanceId>/g)) {
                if (!firstSeen.has(m[1]!)) firstSeen.set(m[1]!, now);
              }
            }
            if (ok && tokenKey !== undefined) answered.set(tokenKey, reply);
            return loss ?? reply;
          };
    const protocol = parsed.query ? 'query' : parsed.action !== undefined ? 'json' : 'other';
    forward(req, res, body, protocol, inspect);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: Error) => {
        if (res.headersSent) res.destroy(err);
        else writeEc2Error(res, 502, 'ProxyError', `aws-proxy: ${err.message}`);
      });
    });
  });

  // Keep idle client connections well beyond the SDK's reuse window (Node's
  // default 5 s invites ECONNRESET races on reused sockets).
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => new Map(calls),
    faults: () => new Map(faults),
    resetCounts() {
      calls.clear();
      faults.clear();
    },
    setOptions(partial) {
      Object.assign(opts, partial);
      if (partial.seed !== undefined) random = mulberry32(partial.seed);
      if (partial.target !== undefined) target = new URL(partial.target);
    },
    loseReplies(action, { times = 1, as = 'reset' } = {}) {
      losing.set(action, { times, as });
    },
    holdCalls(action) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const held = { released, release, waiting: 0 };
      holding.set(action, held);
      return {
        waiting: () => held.waiting,
        release() {
          if (holding.get(action) === held) holding.delete(action);
          held.release();
        },
      };
    },
    reset() {
      for (const held of holding.values()) held.release();
      holding.clear();
      for (const key of Object.keys(opts) as (keyof ProxyOptions)[]) delete opts[key];
      Object.assign(opts, options);
      random = mulberry32(opts.seed ?? 1);
      target = new URL(opts.target);
      calls.clear();
      faults.clear();
      losing.clear();
      answered.clear();
      firstSeen.clear();
      profileCreated.clear();
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        upstreamAgent.destroy();
        for (const client of clients.values()) client.destroy();
        for (const held of holding.values()) held.release();
      });
      return stopping;
    },
  };
}
