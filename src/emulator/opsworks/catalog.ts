// The fixed vocabulary of the emulated OpsWorks Stacks: operating systems and the packages each one
// can install, instance types, regions, names of things. Small on purpose: enough for the stacks
// dupsworks builds and for tests to hit every validation path, not a copy of AWS's catalog.

import type { DeploymentCommandName, LayerType, RootDeviceType, SourceType } from '@aws-sdk/client-opsworks';

export interface OperatingSystem {
  name: string;
  /** The AMI an instance of this OS is launched from. moto accepts any id; where moto ships a matching image we use it. */
  amiId: string;
  /** Package names a layer may list when this is the stack's default OS (see `invalidPackage`). */
  packages: ReadonlySet<string>;
}

const SHARED_PACKAGES = [
  'traceroute',
  'git',
  'tcpdump',
  'curl',
  'wget',
  'telnet',
  'mtr',
  'ntp',
  'sysstat',
  'htop',
  'strace',
  'lsof',
  'rsync',
];
const YUM_PACKAGES = [...SHARED_PACKAGES, 'jq', 'nc', 'bind-utils', 'vim-enhanced', 'aws-cli', 'iptables-services'];
const APT_PACKAGES = [...SHARED_PACKAGES, 'netcat', 'dnsutils', 'vim', 'iptables-persistent'];
// jq reached the Ubuntu archive with 14.04; on 12.04 it was not installable, which is the error the
// original author hit when the stack's default OS was Ubuntu 12.04 and the NAT layer asked for jq.
const UBUNTU_PACKAGES = [...APT_PACKAGES, 'jq', 'awscli'];
// RHEL and CentOS carry jq only in EPEL, which OpsWorks did not enable.
const RHEL_PACKAGES = SHARED_PACKAGES.concat('nc', 'bind-utils', 'vim-enhanced');

function os(name: string, amiId: string, packages: string[]): OperatingSystem {
  return { name, amiId, packages: new Set(packages) };
}

const AMAZON_LINUX_AMI = 'ami-000c540e28953ace2'; // moto: amzn-ami-minimal-hvm-2018.03

export const OPERATING_SYSTEMS: readonly OperatingSystem[] = [
  os('Amazon Linux', AMAZON_LINUX_AMI, YUM_PACKAGES),
  ...['2015.03', '2015.09', '2016.03', '2016.09', '2017.03', '2017.09', '2018.03'].map((v) =>
    os(`Amazon Linux ${v}`, AMAZON_LINUX_AMI, YUM_PACKAGES),
  ),
  os('Amazon Linux 2', 'ami-04681a1dbd79675a5', YUM_PACKAGES), // moto: amzn2-ami-hvm-2.0.20180810
  os('Ubuntu 12.04 LTS', 'ami-0b1b5ab6f4c1a2d12', APT_PACKAGES), // placeholder id: moto has no such image
  os('Ubuntu 14.04 LTS', 'ami-1e749f67', UBUNTU_PACKAGES), // moto: ubuntu-trusty-14.04
  os('Ubuntu 16.04 LTS', 'ami-785db401', UBUNTU_PACKAGES), // moto: ubuntu-xenial-16.04
  os('Ubuntu 18.04 LTS', 'ami-0d3b1a1e5c1f2b8e4', UBUNTU_PACKAGES), // placeholder id
  os('CentOS Linux 7', 'ami-0c5c1d2e3f4a5b6c7', RHEL_PACKAGES), // placeholder id
  os('Red Hat Enterprise Linux 7', 'ami-bb9a6bc2', RHEL_PACKAGES), // moto: RHEL-7.4
];

/** With Os "Custom" the instance names its own AMI (AmiId) and the package list cannot be checked. */
export const CUSTOM_OS = 'Custom';
export const DEFAULT_OS = 'Amazon Linux 2';

export function findOs(name: string): OperatingSystem | undefined {
  return OPERATING_SYSTEMS.find((o) => o.name === name);
}

export function isKnownOs(name: string): boolean {
  return name === CUSTOM_OS || findOs(name) !== undefined;
}

export function knownOsNames(): string[] {
  return [...OPERATING_SYSTEMS.map((o) => o.name), CUSTOM_OS];
}

/** The first package the OS cannot install, if any. Custom AMIs are not checked: their contents are unknown. */
export function invalidPackage(osName: string, packages: readonly string[]): string | undefined {
  const system = findOs(osName);
  if (!system) return undefined;
  return packages.find((p) => !system.packages.has(p));
}

// Families and sizes OpsWorks offered; a type is valid when both parts are known.
const INSTANCE_FAMILIES = new Set(
  ['t1', 't2', 't3', 't3a', 'm1', 'm2', 'm3', 'm4', 'm5', 'm5a', 'c1', 'c3', 'c4', 'c5', 'cc2', 'cr1', 'r3', 'r4', 'r5', 'i2', 'i3'].concat(
    ['d2', 'g2', 'g3', 'p2', 'p3', 'x1', 'hs1', 'hi1'],
  ),
);
const INSTANCE_SIZES = /^(nano|micro|small|medium|large|xlarge|\d{1,2}xlarge)$/;

export function isKnownInstanceType(type: string): boolean {
  const [family, size, ...rest] = type.split('.');
  return rest.length === 0 && INSTANCE_FAMILIES.has(family!) && size !== undefined && INSTANCE_SIZES.test(size);
}

/** Regions where OpsWorks Stacks was offered. */
export const REGIONS: ReadonlySet<string> = new Set([
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
]);

export const HOSTNAME_THEMES: ReadonlySet<string> = new Set([
  'Layer_Dependent',
  'Baked_Goods',
  'Clouds',
  'Europe_Cities',
  'Fishes',
  'Greek_Deities',
  'Legendary_creatures_from_Japan',
  'Planets_and_Moons',
  'Roman_Deities',
  'Scottish_Islands',
  'US_Cities',
  'Wild_Cats',
]);

export const CHEF_VERSIONS: ReadonlySet<string> = new Set(['11.4', '11.10', '12']);

export const ROOT_DEVICE_TYPES: readonly RootDeviceType[] = ['ebs', 'instance-store'];
export const SOURCE_TYPES: readonly SourceType[] = ['git', 'svn', 'archive', 's3'];
export const LAYER_TYPES: readonly LayerType[] = [
  'aws-flow-ruby',
  'ecs-cluster',
  'java-app',
  'lb',
  'web',
  'php-app',
  'rails-app',
  'nodejs-app',
  'memcached',
  'db-master',
  'monitoring-master',
  'custom',
];
export const DEPLOYMENT_COMMANDS: readonly DeploymentCommandName[] = [
  'install_dependencies',
  'update_dependencies',
  'update_custom_cookbooks',
  'execute_recipes',
  'configure',
  'setup',
  'deploy',
  'rollback',
  'start',
  'stop',
  'restart',
  'undeploy',
];
export const PERMISSION_LEVELS: ReadonlySet<string> = new Set(['deny', 'show', 'deploy', 'manage', 'iam_only']);

/** Every status DescribeInstances could report. */
export const INSTANCE_STATUSES: ReadonlySet<string> = new Set([
  'booting',
  'connection_lost',
  'online',
  'pending',
  'rebooting',
  'requested',
  'running_setup',
  'setup_failed',
  'shutting_down',
  'start_failed',
  'stop_failed',
  'stopped',
  'stopping',
  'terminated',
  'terminating',
]);

/** The groups OpsWorks created in a stack's VPC, shared by every stack there and never deleted by it. */
export const OPSWORKS_SECURITY_GROUPS = [
  { name: 'AWS-OpsWorks-Custom-Server', description: 'AWS OpsWorks Custom server - do not change or delete' },
  { name: 'AWS-OpsWorks-Default-Server', description: 'AWS OpsWorks Default server - do not change or delete' },
] as const;
export const CUSTOM_LAYER_GROUP = 'AWS-OpsWorks-Custom-Server';
