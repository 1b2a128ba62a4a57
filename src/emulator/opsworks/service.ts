// What every operation handler is handed: the state, EC2, the instance lifecycle, the timers.

import type { Ec2Backend } from './ec2-backend.js';
import type { Lifecycle } from './lifecycle.js';
import type { State } from './model.js';
import type { Scheduler } from './scheduler.js';

export interface Delays {
  /** Between two instance statuses (requested -> pending -> booting -> ...). */
  stepMs: number;
  /** From CreateStack until the OpsWorks security groups exist in the stack's VPC. */
  securityGroupsMs: number;
  /** From CreateDeployment until the deployment ends. */
  deploymentMs: number;
}

export interface Service {
  state: State;
  ec2: Ec2Backend;
  lifecycle: Lifecycle;
  scheduler: Scheduler;
  delays: Delays;
  log: (line: string) => void;
}

/** An operation: the parsed JSON body in, the JSON result out (errors are thrown as OpsWorksError). */
export type Handler = (body: unknown, service: Service) => object | Promise<object>;
