// The user data of a NAT instance: the boot script (boot.sh beside this file, a real shell program)
// with the stack's settings, the failover agent's configuration and the agent itself (agent.sh,
// another real program) written in after its first line. Amazon Linux runs it once, at first boot;
// the lab runs the same text, read back from the emulator, inside the NAT's namespace.
//
// It is sent gzip-compressed: with the agent it is larger than EC2's 16 KB, and cloud-init
// decompresses gzip user data before it runs it (so does the lab).

import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

export interface NatBoot {
  stack: string;
  availabilityZone: string;
  vpcCidr: string;
  /** The agent's configuration file, KEY=value in order: stable values only (no instance ids). */
  agentConfig: readonly (readonly [string, string])[];
}

/** EC2 refuses user data over 16 KB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;

// The build copies the shell programs beside the built module (tsc copies no shell), in the
// repository and in the package alike.
const BOOT_SCRIPT = readFileSync(new URL('./boot.sh', import.meta.url), 'utf8');
const AGENT_SCRIPT = readFileSync(new URL('./agent.sh', import.meta.url), 'utf8');

const CONFIG_END = 'DUPSWORKS_AGENT_CONFIG';
const PROGRAM_END = 'DUPSWORKS_AGENT_PROGRAM';

/** The user data's text, as the instance runs it. Throws if it would not fit EC2's limit once compressed. */
export function natUserData(boot: NatBoot): string {
  const [shebang, ...rest] = BOOT_SCRIPT.split('\n');
  const text = [
    shebang,
    `# dupsworks NAT instance: stack ${boot.stack}, zone ${boot.availabilityZone}`,
    `DUPSWORKS_VPC_CIDR=${shellQuote(boot.vpcCidr)}`,
    'dupsworks_agent_config() {',
    `  cat <<'${CONFIG_END}'`,
    ...configLines(boot),
    CONFIG_END,
    '}',
    'dupsworks_agent_program() {',
    `  cat <<'${PROGRAM_END}'`,
    AGENT_SCRIPT.replace(/\n$/, ''),
    PROGRAM_END,
    '}',
    ...rest,
  ].join('\n');
  const size = encodedSize(text);
  if (size > USER_DATA_LIMIT) throw new Error(`the NAT user data is ${size} bytes compressed; EC2 takes at most ${USER_DATA_LIMIT}`);
  return text;
}

/** What RunInstances sends: the text gzip-compressed, in base64. */
export function encodeUserData(text: string): string {
  return gzipSync(Buffer.from(text, 'utf8'), { level: 9 }).toString('base64');
}

/** The text of user data as EC2 returns it (base64), decompressed when it is gzip, as cloud-init does. */
export function decodeUserData(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  const gzip = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  return (gzip ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** The bytes EC2 counts against its limit: the compressed text. */
export function encodedSize(text: string): number {
  return Buffer.from(encodeUserData(text), 'base64').length;
}

function configLines(boot: NatBoot): string[] {
  const lines = [`# dupsworks NAT agent of stack ${boot.stack}, zone ${boot.availabilityZone} (written by the user data)`];
  for (const [key, value] of boot.agentConfig) {
    // The agent reads KEY=value lines as they are: nothing that would end the line or the heredoc.
    if (!/^[A-Z][A-Z0-9_]*$/.test(key) || /[\n\r]/.test(value)) throw new Error(`internal: bad agent setting ${key}=${value}`);
    lines.push(`${key}=${value}`);
  }
  if (lines.includes(CONFIG_END)) throw new Error(`internal: the agent configuration holds a line ${CONFIG_END}`);
  return lines;
}

if (AGENT_SCRIPT.split('\n').includes(PROGRAM_END)) throw new Error(`internal: agent.sh holds a line ${PROGRAM_END}`);

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
