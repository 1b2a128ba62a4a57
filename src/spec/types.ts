// The spec a user writes, after validation (and with defaults filled in, see defaults.ts). Field
// names are the user-facing YAML names.

export interface Spec {
  /** Names the stack; every resource is tagged `dupsworks:stack=<name>`. */
  name: string;
  region: string;
  vpc: { name: string; cidr: string };
  /** Two or more; zone i's NAT watches zone (i+1) mod N. */
  zones: Zone[];
  nat: NatSpec;
  /** nat.manager ec2 only: how the NATs' agents fail over (parseSpec fills in the defaults). */
  failover?: FailoverSpec;
  /** Present exactly when nat.manager is "opsworks". */
  opsworks?: OpsWorksSpec;
}

export interface Zone {
  availabilityZone: string;
  publicSubnet: string;
  privateSubnet: string;
  heartbeat: {
    /** This zone's NAT pings it; a /32 route sends it through the next zone's NAT. */
    viaPeer: string;
    /** This zone's NAT pings it straight through the internet gateway. */
    viaInternetGateway: string;
  };
}

export interface NatSpec {
  /** ec2: NAT instances are EC2 instances with user data; opsworks: instances of an OpsWorks stack (the original design). */
  manager: 'ec2' | 'opsworks';
  instanceType: string;
  /** ec2 only. When absent, the latest Amazon Linux 2023 AMI at the time the NAT is launched. */
  imageId?: string;
  /** The SSH key pair of the NATs (opsworks: of every instance of the stack). */
  keyName?: string;
  /** ec2 only (opsworks uses opsworks.defaultInstanceProfileArn). */
  instanceProfileArn?: string;
  /**
   * ec2 only. true: each zone's NAT gets an Elastic IP the stack allocates (and destroy releases);
   * a list: the allocation ids of addresses to reuse, one per zone in the zones' order (never
   * released). Either way a zone's egress address survives the replacement of its NAT.
   */
  elasticIps?: boolean | string[];
}

/** The agent on every NAT: how often it probes, and when it takes a zone over and gives it back. */
export interface FailoverSpec {
  probeIntervalMs: number;
  /** Probes through the next NAT lost in a row before its zone is taken over. */
  failAfter: number;
  /** Probes through it answered in a row before the zone is given back. */
  recoverAfter: number;
  /** How long a zone stays taken over at least (doubled for a NAT that fails again soon). */
  holdDownSeconds: number;
  /** Published to on every switch. */
  snsTopicArn?: string;
}

/** Every setting the original dupsworks had for its OpsWorks stack (settings.cfg). */
export interface OpsWorksSpec {
  serviceRoleArn: string;
  defaultInstanceProfileArn: string;
  /** The stack's default OS; OpsWorks checks every layer's packages against it. */
  defaultOs: string;
  /** "ebs" or "instance-store". */
  defaultRootDeviceType: 'ebs' | 'instance-store';
  chef: { version: string; manageBerkshelf: boolean; berkshelfVersion: string };
  /** The git repository holding the vpcnat cookbook. */
  customCookbooks: { url: string; revision: string };
  layers: { admin: LayerSpec; nat: LayerSpec };
  admin: { instanceType: string; /** The original created the admin instance without starting it. */ start: boolean };
  permissions: Permission[];
  /** Written beside vpcnat in the custom JSON, as the original did: "awscli": {"region", "version"}. */
  awscliVersion?: string;
}

export interface LayerSpec {
  packages: string[];
  /** The OS of the layer's instances. */
  os: string;
}

export interface Permission {
  iamUserArn: string;
  allowSsh: boolean;
  allowSudo: boolean;
  level: 'deny' | 'show' | 'deploy' | 'manage' | 'iam_only';
}
