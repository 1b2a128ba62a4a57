// The instance metadata service of one instance, IMDSv2 only (as Amazon Linux 2023 launches):
// PUT /latest/api/token with a TTL, then every GET carries the token; without one, 401. Answered
// from what the emulator says now, so a tool on the NAT (the AWS CLI, an SDK, curl) finds its
// identity, network and credentials the way it does on EC2.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface InstanceIdentity {
  instanceId: string;
  region: string;
  availabilityZone: string;
  mac: string;
  networkInterfaceId: string;
  subnetId: string;
  vpcId: string;
  vpcCidr: string;
  privateIp: string;
  publicIp: string | undefined;
  /** The role whose credentials the instance gets (the emulator accepts any). */
  role: string;
  userData: string | undefined;
}

const MAX_TTL_SECONDS = 21600;

export function metadataServer(identity: () => InstanceIdentity | undefined): Server {
  const tokens = new Map<string, number>();
  return createServer((request, response) => {
    const send = (status: number, body: string, type = 'text/plain') => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      response.end(body);
    };
    const now = Date.now();
    for (const [token, expires] of tokens) if (expires < now) tokens.delete(token);
    const path = (request.url ?? '/').split('?')[0]!.replace(/\/+$/, '');

    if (path === '/latest/api/token') {
      if (request.method !== 'PUT') return send(405, 'Method Not Allowed');
      const ttl = Number(header(request, 'x-aws-ec2-metadata-token-ttl-seconds'));
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return send(400, 'Bad Request');
      const token = randomBytes(32).toString('base64url');
      tokens.set(token, now + ttl * 1000);
      response.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return send(200, token);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'Method Not Allowed');
    const token = header(request, 'x-aws-ec2-metadata-token');
    if (!token || !tokens.has(token)) return send(401, 'Unauthorized');
    const me = identity();
    if (!me) return send(404, 'Not Found');
    const answer = answerFor(me, path);
    if (answer === undefined) return send(404, 'Not Found');
    return typeof answer === 'string' ? send(200, answer) : send(200, JSON.stringify(answer, null, 2), 'application/json');
  });
}

function answerFor(me: InstanceIdentity, path: string): string | object | undefined {
  const mac = `/latest/meta-data/network/interfaces/macs/${me.mac}`;
  const paths: Record<string, string | object | undefined> = {
    '/latest/meta-data/instance-id': me.instanceId,
    '/latest/meta-data/placement/region': me.region,
    '/latest/meta-data/placement/availability-zone': me.availabilityZone,
    '/latest/meta-data/mac': me.mac,
    '/latest/meta-data/local-ipv4': me.privateIp,
    '/latest/meta-data/public-ipv4': me.publicIp,
    '/latest/meta-data/network/interfaces/macs': `${me.mac}/`,
    [`${mac}/interface-id`]: me.networkInterfaceId,
    [`${mac}/subnet-id`]: me.subnetId,
    [`${mac}/vpc-id`]: me.vpcId,
    [`${mac}/vpc-ipv4-cidr-block`]: me.vpcCidr,
    [`${mac}/vpc-ipv4-cidr-blocks`]: me.vpcCidr,
    [`${mac}/local-ipv4s`]: me.privateIp,
    [`${mac}/public-ipv4s`]: me.publicIp,
    '/latest/meta-data/iam/security-credentials': me.role,
    [`/latest/meta-data/iam/security-credentials/${me.role}`]: credentials(),
    '/latest/dynamic/instance-identity/document': {
      instanceId: me.instanceId,
      region: me.region,
      availabilityZone: me.availabilityZone,
      privateIp: me.privateIp,
    },
    '/latest/user-data': me.userData,
  };
  return paths[path];
}

function credentials() {
  return {
    Code: 'Success',
    LastUpdated: new Date().toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: 'ASIALABDUPSWORKS0000',
    SecretAccessKey: 'dupsworks-lab-secret-the-emulator-accepts-any',
    Token: 'dupsworks-lab-session-token',
    Expiration: new Date(Date.now() + 6 * 3600_000).toISOString(),
  };
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
