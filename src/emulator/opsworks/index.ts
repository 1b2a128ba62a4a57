// An emulator of AWS OpsWorks Stacks, which AWS shut down on 2024-05-26 and moto never had. The
// SDK's OpsWorks client (or any AWS JSON 1.1 caller) works against it unchanged; the instances it
// starts are real EC2 instances in the EC2 emulator (moto) it is pointed at.
//
//   const opsworks = await startOpsWorksEmulator({ ec2Endpoint: moto.endpoint, delays: { stepMs: 20 } });
//   new OpsWorksClient({ endpoint: opsworks.endpoint, region: 'ap-northeast-1', credentials });
//
// Files: server.ts (HTTP, the protocol, the test-control endpoints), operations.ts (the operation
// table), one file per resource (stacks, layers, instances, deployments, permissions, tags),
// lifecycle.ts (instance statuses and their EC2 side), ec2-backend.ts (every EC2 call), catalog.ts
// (OSes, packages, instance types), model.ts (the in-memory state), input.ts and errors.ts (request
// checks and error answers), scheduler.ts (timers that reset cancels), command.ts (the CLI).

import { Ec2Backend } from './ec2-backend.js';
import { Lifecycle } from './lifecycle.js';
import { State } from './model.js';
import { Scheduler } from './scheduler.js';
import { listen } from './server.js';
import type { Delays, Service } from './service.js';

export interface OpsWorksEmulatorOptions {
  /** 0 (the default) picks any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The EC2 emulator (moto) that instances are launched in. */
  ec2Endpoint: string;
  /** Defaults: 1000, 2000, 1000 ms. Tests pass a few tens. */
  delays?: { stepMs?: number; securityGroupsMs?: number; deploymentMs?: number };
  /** Each request, status change and background failure, one line each. */
  log?: (line: string) => void;
}

export interface OpsWorksEmulator {
  endpoint: string;
  /** Forgets every stack, layer, instance, deployment and permission, and cancels whatever was under way. */
  reset(): void;
  stop(): Promise<void>;
}

export async function startOpsWorksEmulator(options: OpsWorksEmulatorOptions): Promise<OpsWorksEmulator> {
  const log = options.log ?? (() => undefined);
  const delays: Delays = {
    stepMs: options.delays?.stepMs ?? 1000,
    securityGroupsMs: options.delays?.securityGroupsMs ?? 2000,
    deploymentMs: options.delays?.deploymentMs ?? 1000,
  };
  const scheduler = new Scheduler(log);
  const state = new State();
  const ec2 = new Ec2Backend(options.ec2Endpoint, () => scheduler.signal);
  const lifecycle = new Lifecycle({ state, ec2, scheduler, stepMs: delays.stepMs, log });
  const service: Service = { state, ec2, lifecycle, scheduler, delays, log };
  const reset = () => {
    scheduler.endEpoch();
    state.clear();
  };
  const server = await listen(service, options.host ?? '127.0.0.1', options.port ?? 0, reset);
  let stopping: Promise<void> | undefined;
  return {
    endpoint: server.endpoint,
    reset,
    stop: () =>
      (stopping ??= (async () => {
        reset();
        await server.close();
        ec2.destroy();
      })()),
  };
}

/** Client side of `POST /__emulator/reset`, for a test talking to an emulator in another process. */
export async function resetOpsWorksEmulator(endpoint: string): Promise<void> {
  await control(endpoint, '/__emulator/reset', {});
}

/** Client side of `POST /__emulator/instances/<id>/status`: simulate setup_failed, start_failed and the like. */
export async function forceInstanceStatus(endpoint: string, instanceId: string, status: string): Promise<void> {
  await control(endpoint, `/__emulator/instances/${encodeURIComponent(instanceId)}/status`, { Status: status });
}

async function control(endpoint: string, path: string, body: object): Promise<void> {
  const response = await fetch(new URL(path, endpoint), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status}: ${await response.text()}`);
}
