// Run inside a NAT's namespace by the lab tests (`ip netns exec NS node in-nat.js MODE`), as a
// program on the instance would: `imds` asks the metadata service what an agent asks it and
// prints the answers as JSON; `api ENDPOINT` calls EC2 through the lab's internet with the
// credentials the SDK's default chain finds (on an instance: the metadata service's).

import { request } from 'node:http';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';

function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '169.254.169.254', port: 80, method, path, headers, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function imds(): Promise<object> {
  const unauthorized = (await call('GET', '/latest/meta-data/instance-id')).status;
  const token = (await call('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' })).body;
  const get = async (path: string) => (await call('GET', `/latest/meta-data/${path}`, { 'x-aws-ec2-metadata-token': token })).body;
  const mac = await get('mac');
  return {
    unauthorized,
    instanceId: await get('instance-id'),
    region: await get('placement/region'),
    availabilityZone: await get('placement/availability-zone'),
    mac,
    interfaceId: await get(`network/interfaces/macs/${mac}/interface-id`),
    subnetId: await get(`network/interfaces/macs/${mac}/subnet-id`),
    vpcCidr: await get(`network/interfaces/macs/${mac}/vpc-ipv4-cidr-blocks`),
    localIpv4s: await get(`network/interfaces/macs/${mac}/local-ipv4s`),
  };
}

async function api(endpoint: string, region: string): Promise<object> {
  const ec2 = new EC2Client({ endpoint, region, maxAttempts: 2 });
  const out = await ec2.send(new DescribeInstancesCommand({}));
  return { instanceIds: (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId) };
}

const [mode, endpoint, region] = process.argv.slice(2);
(mode === 'imds' ? imds() : api(endpoint!, region!)).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    process.exitCode = 1;
  },
);
