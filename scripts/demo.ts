// `npm run demo`: the product working end to end against a local AWS emulator (moto_server).
// Builds examples/ha-nat.yaml from nothing, kills a NAT behind dupsworks's back, shows the plan
// that heals it, applies it, and shows that a fresh plan is empty. Every step is the real CLI.

import { spawn } from 'node:child_process';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { BIN, ROOT, cliEnv } from '../test/support/cli.js';
import { startMoto } from '../test/support/moto.js';
import { ec2Client, liveNat } from '../test/support/stack.js';

const SPEC = 'examples/ha-nat.yaml';
const STACK = 'my-stack';

async function main(): Promise<number> {
  banner('Starting a local AWS emulator (moto_server)');
  const moto = await startMoto();
  console.log(`moto_server is listening on ${moto.endpoint}`);
  const env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint });
  try {
    banner(`1. Build the stack from nothing: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    const nat = await liveNat(ec2Client(moto.endpoint), STACK, 'ap-northeast-1c');
    banner(`2. Disaster: the NAT of ap-northeast-1c (${nat.InstanceId}) is terminated behind dupsworks's back`);
    await ec2Client(moto.endpoint).send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    console.log(`aws ec2 terminate-instances --instance-ids ${nat.InstanceId}  # done`);

    banner(`3. The plan that heals it: dupsworks plan -f ${SPEC}`);
    await dupsworks(['plan', '-f', SPEC], env);

    banner(`4. One command heals it: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    banner(`5. Converged: a fresh plan shows no changes (dupsworks plan -f ${SPEC} --detailed-exitcode)`);
    const code = await dupsworks(['plan', '-f', SPEC, '--detailed-exitcode'], env, [0]);
    console.log(`exit code ${code}: no changes`);
    return 0;
  } finally {
    banner('Stopping the emulator');
    await moto.stop();
  }
}

function banner(text: string): void {
  const bold = process.stdout.isTTY && !process.env.NO_COLOR;
  console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m\n` : `\n== ${text}\n`);
}

/** Runs the real CLI with the terminal attached; rejects unless it exits with one of `expected`. */
function dupsworks(args: string[], env: NodeJS.ProcessEnv, expected = [0]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) =>
      code !== null && expected.includes(code) ? resolve(code) : reject(new Error(`dupsworks ${args.join(' ')} exited with ${code}`)),
    );
  });
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    process.exitCode = 1;
  },
);
