// An OpsWorks instance's status machine, one step every `stepMs`, backed by a real EC2 instance:
//
//   stopped -> requested -> pending -> booting -> running_setup -> online
//   online (or any started status) -> stopping -> stopped
//
// The EC2 instance is launched (or an EBS-backed one started again) on the way into "pending", so
// Ec2InstanceId is there from "pending" on. OpsWorks watched its instances, and so does the emulator
// at describe time: an instance whose EC2 side was stopped behind its back reads "stopped", one whose
// EC2 side was terminated or is gone reads "connection_lost".

import type { Ec2Backend, Ec2InstanceInfo } from './ec2-backend.js';
import { validationError } from './errors.js';
import type { InstanceRecord, LayerRecord, StackRecord, State } from './model.js';
import { isAbort, type Scheduler } from './scheduler.js';

export interface LifecycleContext {
  state: State;
  ec2: Ec2Backend;
  scheduler: Scheduler;
  stepMs: number;
  log: (line: string) => void;
}

const BOOT_STEPS = ['booting', 'running_setup', 'online'] as const;
/** Statuses on the way up: starting again is a no-op, as a second click on "start" was. */
const STARTING = new Set(['requested', 'pending', ...BOOT_STEPS]);
/** Statuses in which the EC2 instance should be running, so a stopped or vanished one is news. */
const SHOULD_BE_RUNNING = new Set(['pending', ...BOOT_STEPS, 'setup_failed']);
const GONE = new Set(['terminated', 'shutting-down']);
const HALTED = new Set(['stopped', 'stopping']);

export class Lifecycle {
  constructor(private readonly ctx: LifecycleContext) {}

  start(record: InstanceRecord): void {
    const status = record.instance.Status;
    if (STARTING.has(status)) return;
    if (status === 'stopping') {
      throw validationError(`Instance ${record.instance.InstanceId} is stopping; start it once it is stopped`);
    }
    const run = this.enter(record, 'requested');
    this.afterStep(record, run, () => this.queue(record, () => this.launch(record, run)));
  }

  stop(record: InstanceRecord): void {
    const status = record.instance.Status;
    if (status === 'stopped' || status === 'stopping') return;
    const run = this.enter(record, 'stopping');
    this.afterStep(record, run, () =>
      this.queue(record, async () => {
        if (!this.isCurrent(record, run)) return;
        try {
          await this.haltEc2(record);
          if (this.isCurrent(record, run)) this.setStatus(record, 'stopped');
        } catch (error) {
          if (isAbort(error)) return;
          this.ctx.log(`instance ${record.instance.Hostname}: could not stop its EC2 instance: ${(error as Error).message}`);
          if (this.isCurrent(record, run)) this.setStatus(record, 'stop_failed');
        }
      }),
    );
  }

  /** Terminates the EC2 side (and gives back an Elastic IP the emulator allocated), then forgets the instance. */
  async remove(record: InstanceRecord, releaseElasticIp: boolean): Promise<void> {
    record.run++;
    const stack = this.ctx.state.stack(record.instance.StackId);
    await this.queue(record, async () => {
      const region = stack.stack.Region;
      const ec2Id = record.instance.Ec2InstanceId;
      if (ec2Id) await this.ctx.ec2.terminate(region, ec2Id);
      if (record.elasticIp && releaseElasticIp) await this.ctx.ec2.releaseAddress(region, record.elasticIp.allocationId);
    });
    this.ctx.state.instances.delete(record.instance.InstanceId);
  }

  /** For tests (the control endpoint): put an instance in any status, ending whatever it was doing. */
  force(record: InstanceRecord, status: string): void {
    this.enter(record, status);
  }

  /**
   * Brings the records up to date with EC2 in one DescribeInstances per region: addresses, and the
   * status of instances whose EC2 side stopped or vanished while OpsWorks thought it running.
   */
  async observe(records: InstanceRecord[]): Promise<void> {
    const byRegion = new Map<string, InstanceRecord[]>();
    for (const record of records) {
      if (!record.instance.Ec2InstanceId) continue;
      const region = this.ctx.state.stack(record.instance.StackId).stack.Region;
      byRegion.set(region, [...(byRegion.get(region) ?? []), record]);
    }
    await Promise.all(
      [...byRegion].map(async ([region, group]) => {
        // What each record was before the call: only a status that already expected a running EC2
        // instance when EC2 was read can be contradicted by what EC2 said.
        const before = new Map(group.map((r) => [r, { run: r.run, status: r.instance.Status }]));
        const found = await this.ctx.ec2.instances(
          region,
          group.map((r) => r.instance.Ec2InstanceId!),
        );
        for (const [record, { run, status }] of before) {
          if (!this.isCurrent(record, run)) continue;
          const ec2 = found.get(record.instance.Ec2InstanceId!);
          if (ec2 && !GONE.has(ec2.state)) this.copyAddresses(record, ec2);
          if (!SHOULD_BE_RUNNING.has(status)) continue;
          if (!ec2 || GONE.has(ec2.state)) this.enter(record, 'connection_lost');
          else if (HALTED.has(ec2.state)) this.enter(record, 'stopped');
        }
      }),
    );
  }

  /** Runs in the instance's EC2 queue: a stop requested meanwhile waits for this to finish, then undoes it. */
  private async launch(record: InstanceRecord, run: number): Promise<void> {
    if (!this.isCurrent(record, run)) return;
    try {
      await this.bootEc2(record);
      if (!this.isCurrent(record, run)) return;
      this.setStatus(record, 'pending');
      this.walk(record, run, [...BOOT_STEPS]);
    } catch (error) {
      if (isAbort(error)) return;
      this.ctx.log(`instance ${record.instance.Hostname}: start failed: ${(error as Error).message}`);
      if (this.isCurrent(record, run)) this.setStatus(record, 'start_failed');
    }
  }

  private walk(record: InstanceRecord, run: number, steps: string[]): void {
    const [next, ...rest] = steps;
    if (!next) return;
    this.afterStep(record, run, () => {
      this.setStatus(record, next);
      this.walk(record, run, rest);
    });
  }

  /** Starts the EC2 instance the record already has, or launches a new one when it has none left. */
  private async bootEc2(record: InstanceRecord): Promise<void> {
    const stack = this.ctx.state.stack(record.instance.StackId);
    const region = stack.stack.Region;
    const known = record.instance.Ec2InstanceId;
    const ec2 = known ? (await this.ctx.ec2.instances(region, [known])).get(known) : undefined;
    if (known && ec2 && !GONE.has(ec2.state)) {
      if (HALTED.has(ec2.state)) await this.ctx.ec2.start(region, known);
    } else {
      this.forgetEc2(record);
      const groupIds = await this.securityGroupsOf(record, stack);
      const launched = await this.ctx.ec2.launch({
        region,
        imageId: record.instance.AmiId!,
        instanceType: record.instance.InstanceType!,
        subnetId: record.instance.SubnetId,
        groupIds,
        publicIp: this.layersOf(record).some((l) => l.layer.AutoAssignPublicIps),
        keyName: record.instance.SshKeyName,
        tags: this.tagsOf(record, stack),
      });
      // Recorded even when a stop or delete came in meanwhile: they wait in the queue for this id.
      record.instance.Ec2InstanceId = launched.instanceId;
      record.instance.SecurityGroupIds = groupIds;
      this.copyAddresses(record, launched);
    }
    if (this.layersOf(record).some((l) => l.layer.AutoAssignElasticIps)) {
      record.elasticIp ??= await this.ctx.ec2.allocateAddress(region);
      await this.ctx.ec2.associateAddress(region, record.elasticIp.allocationId, record.instance.Ec2InstanceId!);
      record.instance.ElasticIp = record.elasticIp.publicIp;
      record.instance.PublicIp = record.elasticIp.publicIp;
    }
  }

  /** EBS-backed instances keep their EC2 instance (stopped); instance-store ones lose it (terminated). */
  private async haltEc2(record: InstanceRecord): Promise<void> {
    const region = this.ctx.state.stack(record.instance.StackId).stack.Region;
    const known = record.instance.Ec2InstanceId;
    if (!known) return;
    const ec2 = (await this.ctx.ec2.instances(region, [known])).get(known);
    if (record.instance.RootDeviceType === 'ebs') {
      if (ec2 && !GONE.has(ec2.state) && !HALTED.has(ec2.state)) await this.ctx.ec2.stop(region, known);
      record.instance.PublicIp = record.elasticIp?.publicIp;
      delete record.instance.PublicDns;
    } else {
      if (ec2 && !GONE.has(ec2.state)) await this.ctx.ec2.terminate(region, known);
      this.forgetEc2(record);
    }
  }

  /**
   * The stack's OpsWorks group for each layer (when the stack uses them) and the layers' own groups.
   * Before OpsWorks has created its groups in the VPC the instance cannot launch: start_failed.
   */
  private async securityGroupsOf(record: InstanceRecord, stack: StackRecord): Promise<string[]> {
    const ids = new Set<string>();
    const layers = this.layersOf(record);
    if (stack.stack.UseOpsworksSecurityGroups !== false) {
      const present = await this.ctx.ec2.opsWorksGroups(stack.stack.Region, stack.vpcId);
      for (const name of new Set(layers.flatMap((l) => l.layer.DefaultSecurityGroupNames))) {
        const id = present.get(name);
        if (!id) throw new Error(`security group ${name} does not exist in ${stack.vpcId} yet`);
        ids.add(id);
      }
    }
    for (const layer of layers) for (const id of layer.layer.CustomSecurityGroupIds ?? []) ids.add(id);
    return [...ids];
  }

  /** OpsWorks tagged what it launched with its own tags and with the stack's and layers' tags. */
  private tagsOf(record: InstanceRecord, stack: StackRecord): Record<string, string> {
    const layers = this.layersOf(record);
    const { Name: stackName } = stack.stack;
    const hostname = record.instance.Hostname;
    return Object.assign(
      {},
      stack.tags,
      ...layers.map((l) => l.tags),
      { 'opsworks:stack': stackName, 'opsworks:instance': hostname },
      ...layers.map((l) => ({ [`opsworks:layer:${l.layer.Shortname}`]: l.layer.Name })),
      { Name: `${stackName} - ${hostname}` },
    ) as Record<string, string>;
  }

  private layersOf(record: InstanceRecord): LayerRecord[] {
    return record.instance.LayerIds.map((id) => this.ctx.state.layers.get(id)).filter((l): l is LayerRecord => l !== undefined);
  }

  private copyAddresses(record: InstanceRecord, ec2: Ec2InstanceInfo): void {
    record.instance.PrivateIp = ec2.privateIp;
    record.instance.PrivateDns = ec2.privateDns;
    record.instance.PublicIp = ec2.publicIp ?? record.elasticIp?.publicIp;
    record.instance.PublicDns = ec2.publicDns;
  }

  private forgetEc2(record: InstanceRecord): void {
    for (const field of ['Ec2InstanceId', 'PrivateIp', 'PrivateDns', 'PublicIp', 'PublicDns'] as const) delete record.instance[field];
  }

  /** A new run: whatever the instance was doing is abandoned. */
  private enter(record: InstanceRecord, status: string): number {
    record.run++;
    this.setStatus(record, status);
    return record.run;
  }

  private setStatus(record: InstanceRecord, status: string): void {
    const before = record.instance.Status;
    record.instance.Status = status;
    this.ctx.log(`instance ${record.instance.InstanceId} (${record.instance.Hostname}): ${before} -> ${status}`);
  }

  private isCurrent(record: InstanceRecord, run: number): boolean {
    return record.run === run && this.ctx.state.instances.get(record.instance.InstanceId) === record;
  }

  private afterStep(record: InstanceRecord, run: number, action: () => void | Promise<void>): void {
    this.ctx.scheduler.after(this.ctx.stepMs, () => (this.isCurrent(record, run) ? action() : undefined));
  }

  private queue(record: InstanceRecord, work: () => Promise<void>): Promise<void> {
    const next = record.ec2Work.then(work);
    record.ec2Work = next.catch(() => undefined);
    return next;
  }
}
