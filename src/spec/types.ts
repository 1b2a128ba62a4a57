// The spec a user writes, after validation. Field names are the user-facing YAML names.

export interface Spec {
  /** Names the stack; every resource is tagged `dupsworks:stack=<name>`. */
  name: string;
  region: string;
  vpc: { name: string; cidr: string };
  /** Two or more; zone i's NAT watches zone (i+1) mod N. */
  zones: Zone[];
  nat: NatSpec;
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
  manager: 'ec2';
  instanceType: string;
  /** When absent, the latest Amazon Linux 2023 AMI at the time the NAT is launched. */
  imageId?: string;
  keyName?: string;
  instanceProfileArn?: string;
}
