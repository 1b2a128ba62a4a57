// The user data of a NAT instance: the boot script (boot.sh beside this file, a real shell program)
// with the stack's settings written in after its first line. Amazon Linux runs it once, at first
// boot; the lab runs the same text, read back from the emulator, inside the NAT's namespace.

import { readFileSync } from 'node:fs';

export interface NatBoot {
  stack: string;
  availabilityZone: string;
  vpcCidr: string;
}

/** EC2 refuses user data over 16 KB (before base64). */
export const USER_DATA_LIMIT = 16 * 1024;

// The build copies the shell programs beside the built module (tsc copies no shell), in the
// repository and in the package alike.
const BOOT_SCRIPT = readFileSync(new URL('./boot.sh', import.meta.url), 'utf8');

export function natUserData(boot: NatBoot): string {
  const [shebang, ...rest] = BOOT_SCRIPT.split('\n');
  const text = [
    shebang,
    `# dupsworks NAT instance: stack ${boot.stack}, zone ${boot.availabilityZone}`,
    `DUPSWORKS_VPC_CIDR=${shellQuote(boot.vpcCidr)}`,
    ...rest,
  ].join('\n');
  if (Buffer.byteLength(text) > USER_DATA_LIMIT) {
    throw new Error(`the NAT user data is ${Buffer.byteLength(text)} bytes; EC2 takes at most ${USER_DATA_LIMIT}`);
  }
  return text;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
