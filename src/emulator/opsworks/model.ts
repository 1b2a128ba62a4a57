// The emulator's whole state, in memory. Each record keeps the resource exactly as the Describe
// operation returns it (the SDK's own model types), plus what only the emulator needs to know.

import type { Deployment, Instance, Layer, Permission, Stack } from '@aws-sdk/client-opsworks';
import { notFoundError } from './errors.js';

/** moto's default account, so the ARNs we hand out name the same account as the EC2 side. */
export const ACCOUNT_ID = '123456789012';

type With<T, K extends keyof T> = T & { [P in K]-?: NonNullable<T[P]> };

export interface StackRecord {
  stack: With<Stack, 'StackId' | 'Name' | 'Arn' | 'Region' | 'DefaultOs'>;
  /** Where the stack's groups and instances live: its VpcId, or for a stack without one the region's default VPC. */
  vpcId: string;
  tags: Record<string, string>;
}

export interface LayerRecord {
  layer: With<Layer, 'LayerId' | 'StackId' | 'Arn' | 'Name' | 'Shortname' | 'Packages' | 'DefaultSecurityGroupNames'>;
  tags: Record<string, string>;
}

export interface InstanceRecord {
  instance: With<Instance, 'InstanceId' | 'StackId' | 'Hostname' | 'Status' | 'LayerIds' | 'SubnetId' | 'RootDeviceType'>;
  /**
   * Bumped by every start, stop, delete and forced status. A timer or an EC2 call belonging to an
   * older run sees the number moved on and changes nothing.
   */
  run: number;
  /** This instance's EC2 calls, chained so a stop never overtakes the launch it must undo. */
  ec2Work: Promise<void>;
  elasticIp?: { allocationId: string; publicIp: string };
}

export interface DeploymentRecord {
  deployment: With<Deployment, 'DeploymentId' | 'StackId' | 'InstanceIds' | 'Status'>;
  /** Creation order, for "newest first" when two share a CreatedAt second. */
  sequence: number;
  startedAt: number;
}

export class State {
  readonly stacks = new Map<string, StackRecord>();
  readonly layers = new Map<string, LayerRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly deployments = new Map<string, DeploymentRecord>();
  /** Keyed by `permissionKey`. */
  readonly permissions = new Map<string, Required<Pick<Permission, 'StackId' | 'IamUserArn'>> & Permission>();
  private sequence = 0;

  clear(): void {
    this.stacks.clear();
    this.layers.clear();
    this.instances.clear();
    this.deployments.clear();
    this.permissions.clear();
  }

  nextSequence(): number {
    return ++this.sequence;
  }

  stack(id: string): StackRecord {
    const found = this.stacks.get(id);
    if (!found) throw notFoundError(`Unable to find stack with ID ${id}`);
    return found;
  }

  layer(id: string): LayerRecord {
    const found = this.layers.get(id);
    if (!found) throw notFoundError(`Unable to find layer with ID ${id}`);
    return found;
  }

  instance(id: string): InstanceRecord {
    const found = this.instances.get(id);
    if (!found) throw notFoundError(`Unable to find instance with ID ${id}`);
    return found;
  }

  deployment(id: string): DeploymentRecord {
    const found = this.deployments.get(id);
    if (!found) throw notFoundError(`Unable to find deployment with ID ${id}`);
    return found;
  }

  layersOf(stackId: string): LayerRecord[] {
    return [...this.layers.values()].filter((l) => l.layer.StackId === stackId);
  }

  instancesOf(stackId: string): InstanceRecord[] {
    return [...this.instances.values()].filter((i) => i.instance.StackId === stackId);
  }
}

export function permissionKey(stackId: string, iamUserArn: string): string {
  return `${stackId} ${iamUserArn}`;
}

/** OpsWorks wrote timestamps as `2026-11-27T05:24:44+00:00`: seconds, an explicit offset. */
export function timestamp(at = new Date()): string {
  return at.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export function stackArn(region: string, stackId: string): string {
  return `arn:aws:opsworks:${region}:${ACCOUNT_ID}:stack/${stackId}/`;
}

export function layerArn(region: string, layerId: string): string {
  return `arn:aws:opsworks:${region}:${ACCOUNT_ID}:layer/${layerId}`;
}

export function instanceArn(region: string, instanceId: string): string {
  return `arn:aws:opsworks:${region}:${ACCOUNT_ID}:instance/${instanceId}`;
}

/** The fields an Update request gave: the others stay as they are. */
export function givenFields<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined && value !== null)) as Partial<T>;
}

/** A deep copy for a response, so later changes to the record never reach a caller. */
export function copy<T>(value: T): T {
  return structuredClone(value);
}
