// The stack's outputs, as Terraform's: the ids other tools need (the VPC, the subnets, the route
// tables, the NATs) and the NATs' public IPs, the addresses partners put on allow-lists (with
// nat.elasticIps, the Elastic IPs). `apply` ends with them, `dupsworks output` prints them again.
// Names, the order (by name), the text and the JSON are Terraform's, so scripts written for
// `terraform output` read these too.

import { DupsworksError } from '../errors.js';
import type { LiveStack, LiveZone, Part } from './stack.js';

export type OutputValue = string | Readonly<Record<string, string>>;

export interface StackOutput {
  name: string;
  value: OutputValue;
}

/** The outputs of what exists now, by name; a zone's value is left out until it exists. */
export function stackOutputs(live: LiveStack): StackOutput[] {
  const byZone = (pick: (zone: LiveZone) => string | undefined): Record<string, string> =>
    Object.fromEntries(
      live.zones
        .map((zone) => [zone.availabilityZone, pick(zone)] as const)
        .filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  const id = (part: Part) => part.physicalId;
  const candidates: [string, OutputValue | undefined][] = [
    ['vpc_id', id(live.vpc)],
    ['internet_gateway_id', id(live.internetGateway)],
    ['nat_security_group_id', id(live.natSecurityGroup)],
    ['public_subnet_ids', byZone((z) => id(z.subnet.public))],
    ['private_subnet_ids', byZone((z) => id(z.subnet.private))],
    ['public_route_table_ids', byZone((z) => id(z.routeTable.public))],
    ['private_route_table_ids', byZone((z) => id(z.routeTable.private))],
    ['nat_instance_ids', byZone((z) => z.nat.instanceId)],
    ['nat_public_ips', byZone((z) => z.nat.publicIp)],
    ['elastic_ip_allocation_ids', byZone((z) => z.elasticIp?.allocationId)],
  ];
  return candidates
    .filter((c): c is [string, OutputValue] => c[1] !== undefined && (typeof c[1] === 'string' || Object.keys(c[1]).length > 0))
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** `name = value` lines, a map as Terraform shows one. */
export function renderOutputs(outputs: readonly StackOutput[]): string {
  return outputs.map((o) => `${o.name} = ${renderValue(o.value)}\n`).join('');
}

function renderValue(value: OutputValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  const entries = Object.entries(value).map(([key, inner]) => `  ${JSON.stringify(key)} = ${JSON.stringify(inner)}`);
  return `{\n${entries.join('\n')}\n}`;
}

/** `terraform output -json`: each output's value, its type, and whether it is sensitive (never, here). */
function outputsJson(outputs: readonly StackOutput[]): Record<string, { sensitive: false; type: unknown; value: OutputValue }> {
  return Object.fromEntries(outputs.map((o) => [o.name, { sensitive: false, type: typeOf(o.value), value: o.value }]));
}

function typeOf(value: OutputValue): unknown {
  return typeof value === 'string' ? 'string' : ['map', 'string'];
}

/**
 * What `dupsworks output` prints: every output, or the one named; as text, as JSON, or (one string
 * output) raw. An unknown name, or --raw without a name or on a map, is the user's error.
 */
export function printedOutputs(
  outputs: readonly StackOutput[],
  stack: string,
  options: { name?: string; json?: boolean; raw?: boolean },
): string {
  if (options.name === undefined) {
    if (options.raw)
      throw new DupsworksError('OutputRaw', 'user', '--raw prints one output: name it (dupsworks output -f SPEC vpc_id --raw)');
    return options.json ? `${JSON.stringify(outputsJson(outputs), null, 2)}\n` : renderOutputs(outputs);
  }
  const output = outputs.find((o) => o.name === options.name);
  if (!output) {
    const known = outputs.map((o) => o.name).join(', ') || 'none yet (run apply)';
    throw new DupsworksError('OutputNotFound', 'user', `output "${options.name}" not found; stack ${stack} has: ${known}`);
  }
  if (options.json) return `${JSON.stringify(output.value, null, 2)}\n`;
  if (!options.raw) return `${renderValue(output.value)}\n`;
  if (typeof output.value === 'string') return output.value;
  throw new DupsworksError('OutputRaw', 'user', `output "${options.name}" is a map, which --raw cannot print; use --json`);
}
