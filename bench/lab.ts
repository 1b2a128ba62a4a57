// `npm run bench -- --lab` (as root): how fast the lab follows the emulator.
//
//   build          Lab.start for a 2-zone stack already applied in moto (namespaces, links,
//                  firewalls, servers, both NATs booted from their user data)
//   sync           a private route repointed with ReplaceRoute (the call has returned: the change
//                  is in the emulator) -> the router's route programmed (the lab's own event)
//   egress         the same change -> the private host's next probe leaves through the other
//                  NAT (what a packet sees; includes the probe's own start-up, ~50 ms)
//
// The lab polls every --interval ms (the default 200, and 50 for comparison); the route flips
// between the two NATs, N times each. Latencies are reported as p50/p95 of one run.

import { DescribeRouteTablesCommand, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import { performance } from 'node:perf_hooks';
import { Lab, whoami, type LabEvent } from '../src/lab/index.js';
import { missingPrerequisites } from '../src/lab/control.js';
import { startMoto } from '../test/support/moto.js';
import { byResource, converge, ec2Client, makeEngine, makeSpec } from '../test/support/stack.js';

export interface LabFigures {
  intervalMs: number;
  buildMs: number;
  syncMs: { p50: number; p95: number; samples: number[] };
  egressMs: { p50: number; p95: number; samples: number[] };
}

export async function labBench(reps: number, progress: (line: string) => void): Promise<LabFigures[]> {
  const missing = missingPrerequisites();
  if (missing.length > 0) throw new Error(`--lab: ${missing.join('; ')}`);
  const moto = await startMoto();
  const figures: LabFigures[] = [];
  try {
    for (const intervalMs of [200, 50]) {
      const spec = makeSpec({ name: `lab-bench-${process.pid}-${intervalMs}` });
      await converge(makeEngine(spec, moto.endpoint));
      const events: LabEvent[] = [];
      const started = performance.now();
      const lab = await Lab.start({
        stack: spec.name,
        region: spec.region,
        zones: spec.zones,
        endpointUrl: moto.endpoint,
        intervalMs,
        onEvent: (e) => events.push(e),
      });
      const buildMs = performance.now() - started;
      try {
        const ec2 = ec2Client(moto.endpoint);
        const az = spec.zones[0]!.availabilityZone;
        const zone = () => lab.describe().zones.find((z) => z.availabilityZone === az)!;
        const own = zone().nat!;
        const other = lab.describe().zones.find((z) => z.availabilityZone !== az)!.nat!;
        const out = await ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(spec.name, `route-table/private/${az}`) }));
        const table = out.RouteTables![0]!.RouteTableId!;
        const sync: number[] = [];
        const egress: number[] = [];
        for (let i = 0; i < reps * 2; i++) {
          const target = i % 2 === 0 ? other : own;
          events.length = 0;
          await ec2.send(
            new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: target.instanceId }),
          );
          const changed = Date.now();
          const t0 = performance.now();
          for (;;) {
            const seen = await whoami(zone().host!.namespace, '198.51.100.80', 1000);
            if (seen.ok && seen.source === target.publicIp) break;
            if (performance.now() - t0 > 10_000) throw new Error('the lab did not follow a route change within 10 s');
          }
          egress.push(performance.now() - t0);
          const programmed = events.find(
            (e): e is Extract<LabEvent, { type: 'synced' }> =>
              e.type === 'synced' && e.changes.some((c) => c.what === 'route' && c.detail.includes(`via ${target.address} `)),
          );
          if (!programmed) throw new Error('no sync event for the route change');
          sync.push(programmed.programmedAt - changed);
        }
        figures.push({ intervalMs, buildMs: round(buildMs), syncMs: stats(sync), egressMs: stats(egress) });
        progress(`lab, interval ${intervalMs} ms: measured`);
      } finally {
        await lab.stop();
      }
    }
  } finally {
    await moto.stop();
  }
  return figures;
}

export function labReport(figures: LabFigures[]): string {
  const lines = ['Lab: emulator change -> data plane (ms; p50 / p95 of one run)', ''];
  lines.push('  interval  build   sync p50  sync p95  egress p50  egress p95  samples');
  for (const f of figures) {
    lines.push(
      `  ${String(f.intervalMs).padStart(8)}  ${String(f.buildMs).padStart(5)}  ${String(f.syncMs.p50).padStart(8)}  ${String(f.syncMs.p95).padStart(8)}  ${String(f.egressMs.p50).padStart(10)}  ${String(f.egressMs.p95).padStart(10)}  ${f.syncMs.samples.length}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function stats(samples: number[]): { p50: number; p95: number; samples: number[] } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: round(at(50)), p95: round(at(95)), samples: samples.map(round) };
}

function round(ms: number): number {
  return Math.round(ms);
}
