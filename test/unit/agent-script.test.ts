// The agent's own parsing, without a lab: it reads EC2's XML answers (AWS pretty-prints them, the
// emulator does not), IMDS's JSON without jq, and its configuration; it says what is wrong with a
// configuration and stops. Its functions are run by sourcing agent.sh, which runs nothing then.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../support/cli.js';

const run = promisify(execFile);
const AGENT = join(ROOT, 'src/nat/agent.sh');
const dir = mkdtempSync(join(tmpdir(), 'dupsworks-agent-'));

/** Runs `script` in bash with the agent's functions defined; its stdout. */
async function withAgent(script: string, files: Record<string, string> = {}): Promise<string> {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const { stdout } = await run('bash', ['-c', `source ${AGENT}; cd ${dir}; ${script}`]);
  return stdout;
}

// As AWS answers: indented, with an xmlns, an empty element, an escaped value, and nested lists.
const INSTANCES = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1</reservationId>
            <instancesSet>
                <item>
                    <instanceId>i-0aaa</instanceId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateIpAddress>10.0.0.4</privateIpAddress>
                    <ipAddress>54.1.2.3</ipAddress>
                    <networkInterfaceSet>
                        <item><networkInterfaceId>eni-1</networkInterfaceId><privateIpAddress>10.0.0.4</privateIpAddress></item>
                    </networkInterfaceSet>
                    <tagSet>
                        <item><key>Name</key><value>MyVPC-nat-&amp;-more</value></item>
                        <item><key>dupsworks:resource</key><value>nat/ap-northeast-1c</value></item>
                    </tagSet>
                </item>
                <item>
                    <instanceId>i-0bbb</instanceId>
                    <instanceState><code>80</code><name>stopped</name></instanceState>
                    <privateIpAddress>10.0.1.4</privateIpAddress>
                    <ipAddress/>
                    <tagSet><item><key>dupsworks:resource</key><value>nat/ap-northeast-1a</value></item></tagSet>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
</DescribeInstancesResponse>
`;

const TABLES = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
   <requestId>6f570b0b</requestId>
   <routeTableSet>
      <item>
         <routeTableId>rtb-1</routeTableId>
         <routeSet>
            <item><destinationCidrBlock>10.0.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state></item>
            <item>
               <destinationCidrBlock>0.0.0.0/0</destinationCidrBlock>
               <instanceId>i-0bbb</instanceId>
               <instanceOwnerId>123456789012</instanceOwnerId>
               <networkInterfaceId>eni-2</networkInterfaceId>
               <state>blackhole</state>
            </item>
         </routeSet>
         <associationSet><item><subnetId>subnet-1</subnetId><main>false</main></item></associationSet>
         <tagSet>
            <item><key>dupsworks:resource</key><value>route-table/private/ap-northeast-1a</value></item>
            <item><key>dupsworks:switch</key><value>failover: 10 probes lost &lt;in a row&gt;</value></item>
         </tagSet>
      </item>
   </routeTableSet>
</DescribeRouteTablesResponse>
`;

const STATUS = `<DescribeInstanceStatusResponse><instanceStatusSet><item><instanceId>i-0aaa</instanceId>
<instanceStatus><status>impaired</status></instanceStatus><systemStatus><status>ok</status></systemStatus></item></instanceStatusSet>
</DescribeInstanceStatusResponse>`;

describe('the agent, sourced', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('flattens an EC2 answer into path-value lines, lists numbered, entities decoded, the document element left out', async () => {
    const lines = (await withAgent('xml_flat < tables.xml', { 'tables.xml': TABLES })).trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      'requestId 6f570b0b',
      'routeTableSet.1.routeTableId rtb-1',
      'routeTableSet.1.routeSet.1.destinationCidrBlock 10.0.0.0/16',
      'routeTableSet.1.routeSet.1.gatewayId local',
    ]);
    assert.ok(lines.includes('routeTableSet.1.routeSet.2.state blackhole'));
    assert.ok(lines.includes('routeTableSet.1.tagSet.2.value failover: 10 probes lost <in a row>'));
  });

  it('reads the stack from the describes: instances with state, addresses and logical id, impaired ones, tables, routes, subnets, its tags', async () => {
    const out = await withAgent(
      `declare -A CFG=([STACK]=s [REGION]=ap-northeast-1 [STACK_TAG]=dupsworks:stack [RESOURCE_TAG]=dupsworks:resource)
       RUN_DIR=. ; ec2() { case $2 in DescribeInstances) cat instances.xml;; DescribeRouteTables) cat tables.xml;; DescribeInstanceStatus) cat status.xml;; esac; }
       discover 1`,
      { 'instances.xml': INSTANCES, 'tables.xml': TABLES, 'status.xml': STATUS },
    );
    const lines = out.trim().split('\n');
    assert.deepEqual(lines.filter((l) => !l.startsWith('route ')).sort(), [
      'instance i-0aaa running 10.0.0.4 54.1.2.3 nat/ap-northeast-1c',
      'instance i-0bbb stopped 10.0.1.4 - nat/ap-northeast-1a',
      'status i-0aaa impaired',
      'subnet rtb-1 subnet-1',
      'table rtb-1 route-table/private/ap-northeast-1a',
      'tag rtb-1 dupsworks:resource route-table/private/ap-northeast-1a',
      'tag rtb-1 dupsworks:switch failover: 10 probes lost <in a row>',
    ]);
    // The instance a route names wins over its interface.
    assert.deepEqual(lines.filter((l) => l.startsWith('route ')).sort(), [
      'route rtb-1 0.0.0.0/0 i-0bbb blackhole',
      'route rtb-1 10.0.0.0/16 local active',
    ]);
  });

  it('reads the role credentials IMDS gives, pretty-printed or not', async () => {
    const pretty =
      '{\n  "Code" : "Success",\n  "AccessKeyId" : "ASIA1",\n  "SecretAccessKey" : "s/ecr+et",\n  "Token" : "t==",\n  "Expiration" : "2026-03-01T12:00:00Z"\n}\n';
    const compact = '{"Code":"Success","AccessKeyId":"ASIA2","SecretAccessKey":"x","Token":"y"}';
    const out = await withAgent(
      'for f in pretty compact; do json_field AccessKeyId < $f; json_field SecretAccessKey < $f; json_field Missing < $f; done',
      { pretty, compact },
    );
    assert.equal(out, 'ASIA1\ns/ecr+et\nASIA2\nx\n');
  });

  it('logs one key=value line per event, quoting what needs it', async () => {
    const { stderr } = await run('bash', [
      '-c',
      `source ${AGENT}; log warn partition zone=ap-northeast-1a 'message=the path is "cut"' empty=`,
    ]);
    assert.match(
      stderr,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ level=warn event=partition zone=ap-northeast-1a message="the path is \\"cut\\"" empty=""\n$/,
    );
  });

  it('refuses a configuration it cannot use, saying what is wrong, and exits 1', async () => {
    const base = [
      'STACK=s',
      'REGION=ap-northeast-1',
      'ZONE=ap-northeast-1c',
      'RING_ZONES=ap-northeast-1c,ap-northeast-1a',
      'RING_VIA_PEER=8.8.4.4,8.8.8.8',
      'RING_NAT_IDS=nat/ap-northeast-1c,nat/ap-northeast-1a',
      'RING_PRIVATE_TABLE_IDS=route-table/private/ap-northeast-1c,route-table/private/ap-northeast-1a',
      'PUBLIC_TABLE_ID=route-table/public/ap-northeast-1c',
      'SELF_TARGET=google.co.jp',
      'STACK_TAG=dupsworks:stack',
      'RESOURCE_TAG=dupsworks:resource',
      'PROBE_INTERVAL_MS=200',
      'FAIL_AFTER=10',
      'RECOVER_AFTER=20',
      'HOLD_DOWN_SECONDS=60',
      'DISCOVER_SECONDS=10',
    ];
    const refusal = async (lines: string[]) => {
      writeFileSync(join(dir, 'agent.conf'), `${lines.join('\n')}\n`);
      const error = await run('bash', [AGENT, join(dir, 'agent.conf')]).then(
        () => assert.fail('it must refuse'),
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(error.code, 1);
      return /message="?(.*?)"?$/m.exec(error.stderr)![1];
    };
    assert.match((await refusal(base.filter((l) => !l.startsWith('SELF_TARGET'))))!, /SELF_TARGET is missing/);
    assert.match(
      (await refusal(base.map((l) => (l.startsWith('FAIL_AFTER') ? 'FAIL_AFTER=ten' : l))))!,
      /FAIL_AFTER must be a whole number, not ten/,
    );
    assert.match((await refusal([...base, 'not a setting']))!, /not KEY=value: not a setting/);
    assert.match(
      (await refusal(base.map((l) => (l.startsWith('RING_VIA_PEER') ? 'RING_VIA_PEER=8.8.4.4' : l))))!,
      /one entry per ring zone/,
    );
    assert.match((await refusal(base.map((l) => (l.startsWith('ZONE=') ? 'ZONE=ap-northeast-1a' : l))))!, /must start with this zone/);
  });
});
