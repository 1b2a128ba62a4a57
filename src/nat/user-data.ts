// The boot script of a NAT instance (Amazon Linux 2023 runs user data as a shell script once, at
// first boot). It is assembled from sections so the heartbeat agent can be added as one more
// section without touching the NAT basics.

export interface NatBoot {
  stack: string;
  availabilityZone: string;
  vpcCidr: string;
  /** Further sections, run after the NAT is forwarding (the heartbeat agent goes here). */
  extraSections?: readonly BootSection[];
}

export interface BootSection {
  title: string;
  script: string;
}

export function natUserData(boot: NatBoot): string {
  const sections = [forwarding(), masquerade(boot.vpcCidr), ...(boot.extraSections ?? [])];
  return [
    '#!/bin/bash',
    `# dupsworks NAT instance: stack ${boot.stack}, zone ${boot.availabilityZone}`,
    'set -euo pipefail',
    ...sections.map((s) => `\n# --- ${s.title} ---\n${s.script.trim()}`),
    '',
  ].join('\n');
}

function forwarding(): BootSection {
  return {
    title: 'forward packets',
    script: `
cat > /etc/sysctl.d/90-dupsworks-nat.conf <<'EOF'
net.ipv4.ip_forward = 1
net.ipv4.conf.all.send_redirects = 0
EOF
sysctl --system`,
  };
}

// Masquerade only what comes from the VPC, out of whichever interface the default route uses
// (eth0 or ens5, depending on the instance type), and keep the rule across reboots.
function masquerade(vpcCidr: string): BootSection {
  return {
    title: 'masquerade the VPC',
    script: `
dnf install -y iptables-services
iptables -t nat -C POSTROUTING -s ${vpcCidr} ! -d ${vpcCidr} -j MASQUERADE 2>/dev/null \\
  || iptables -t nat -A POSTROUTING -s ${vpcCidr} ! -d ${vpcCidr} -j MASQUERADE
iptables -P FORWARD ACCEPT
service iptables save
systemctl enable --now iptables`,
  };
}
