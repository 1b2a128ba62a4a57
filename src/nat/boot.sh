#!/bin/bash
# The boot script of a dupsworks NAT instance. The user data is this file with the stack's settings
# (the DUPSWORKS_* variables below, the agent's configuration and the agent itself) written in
# after its first line; Amazon Linux runs it once, at first boot, with no arguments: every part in
# order.
#
#   boot.sh               every part: forwarding, masquerade, agent
#   boot.sh PART...       only those parts, in the order given
#
# Forwarding never depends on the agent: the kernel forwards and masquerades whether the agent
# runs or not; the agent only moves routes.
#
# In the dupsworks lab (DUPSWORKS_LAB_ROOT set to a directory the lab owns) the same parts run
# inside the NAT's network namespace: the kernel settings and the firewall are real there, but
# nothing may leave the namespace. So packages are not installed, services are not enabled (the
# lab is told which ones to start), and every file this script would write under / is written
# under DUPSWORKS_LAB_ROOT instead.
set -euo pipefail

: "${DUPSWORKS_VPC_CIDR:?the VPC CIDR, e.g. 10.0.0.0/16}"
LAB_ROOT="${DUPSWORKS_LAB_ROOT:-}"

readonly SYSCTL_FILE=/etc/sysctl.d/90-dupsworks-nat.conf
readonly IPTABLES_FILE=/etc/sysconfig/iptables
readonly AGENT_PROGRAM=/usr/local/sbin/dupsworks-agent
readonly AGENT_CONFIG=/etc/dupsworks/agent.conf
readonly AGENT_UNIT=/etc/systemd/system/dupsworks-agent.service
# Where, in the lab, the services this script would enable are listed for the lab to start.
readonly LAB_SERVICES_FILE=/var/lib/dupsworks-lab/enabled-services

log() { printf 'dupsworks-boot: %s\n' "$*" >&2; }

in_lab() { [[ -n $LAB_ROOT ]]; }

# The real path of a file this script writes: itself on an instance, under the lab's root in the lab.
at() { printf '%s%s' "$LAB_ROOT" "$1"; }

install_packages() {
  if in_lab; then
    log "lab: not installing $*"
    return
  fi
  dnf install -y "$@"
}

# Enables a systemd service and starts it now. In the lab the unit is only listed: the lab starts
# what it lists the way systemd would, inside the namespace.
enable_service() {
  if in_lab; then
    mkdir -p "$(dirname "$(at "$LAB_SERVICES_FILE")")"
    grep -qxF "$1" "$(at "$LAB_SERVICES_FILE")" 2>/dev/null || echo "$1" >>"$(at "$LAB_SERVICES_FILE")"
    return
  fi
  systemctl daemon-reload
  systemctl enable --now "$1"
}

# Applies a sysctl file. On an instance, every file (as at boot); in the lab only this file's
# keys, and only net.* ones: those belong to the namespace, any other would change the host's.
apply_sysctl() {
  if in_lab; then
    local key
    while IFS=' =' read -r key _; do
      [[ -z $key || $key == \#* || $key == net.* ]] || {
        log "lab: refusing $key from $1: only net.* settings belong to a network namespace"
        return 1
      }
    done <"$(at "$1")"
    sysctl -q -p "$(at "$1")"
    return
  fi
  sysctl --system
}

forwarding() {
  mkdir -p "$(dirname "$(at "$SYSCTL_FILE")")"
  cat >"$(at "$SYSCTL_FILE")" <<'EOF'
net.ipv4.ip_forward = 1
net.ipv4.conf.all.send_redirects = 0
EOF
  apply_sysctl "$SYSCTL_FILE"
}

# Masquerade only what comes from the VPC and leaves it, out of whichever interface the default
# route uses (eth0 or ens5, depending on the instance type), and keep the rule across reboots.
masquerade() {
  install_packages iptables-services
  local rule=(POSTROUTING -s "$DUPSWORKS_VPC_CIDR" ! -d "$DUPSWORKS_VPC_CIDR" -j MASQUERADE)
  iptables -t nat -C "${rule[@]}" 2>/dev/null || iptables -t nat -A "${rule[@]}"
  iptables -P FORWARD ACCEPT
  # What `service iptables save` writes, without depending on `service` being there.
  mkdir -p "$(dirname "$(at "$IPTABLES_FILE")")"
  iptables-save >"$(at "$IPTABLES_FILE")"
  enable_service iptables
}

# The failover agent (agent.sh in the repository), its configuration (stable values only: no
# instance ids, so replacing one NAT changes no other NAT's user data) and its systemd unit.
# Restart=always, and no start limit: systemd brings it back however often it dies. In the lab,
# the lab's EC2 API endpoint is added to its configuration (DUPSWORKS_LAB_ENDPOINT_URL).
agent() {
  declare -F dupsworks_agent_program >/dev/null || {
    log "no agent in this script: the user data embeds it (src/nat/user-data.ts)"
    return 1
  }
  mkdir -p "$(dirname "$(at "$AGENT_PROGRAM")")" "$(dirname "$(at "$AGENT_CONFIG")")" "$(dirname "$(at "$AGENT_UNIT")")"
  dupsworks_agent_program >"$(at "$AGENT_PROGRAM")"
  chmod 755 "$(at "$AGENT_PROGRAM")"
  {
    dupsworks_agent_config
    if in_lab && [[ -n ${DUPSWORKS_LAB_ENDPOINT_URL:-} ]]; then
      echo "# The lab's EC2 API (on the lab's internet, reached through this NAT's own path)"
      echo "ENDPOINT_URL=$DUPSWORKS_LAB_ENDPOINT_URL"
    fi
  } >"$(at "$AGENT_CONFIG")"
  cat >"$(at "$AGENT_UNIT")" <<EOF
[Unit]
Description=dupsworks NAT agent: watches the next NAT, takes over its zone's route, gives it back
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart=$AGENT_PROGRAM $AGENT_CONFIG
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
  enable_service dupsworks-agent
}

readonly PARTS=(forwarding masquerade agent)

main() {
  local parts=("$@")
  ((${#parts[@]} > 0)) || parts=("${PARTS[@]}")
  local part
  for part in "${parts[@]}"; do
    if [[ " ${PARTS[*]} " != *" $part "* ]]; then
      log "unknown part \"$part\"; the parts are: ${PARTS[*]}"
      return 2
    fi
  done
  for part in "${parts[@]}"; do
    log "$part"
    "$part"
  done
}

main "$@"
