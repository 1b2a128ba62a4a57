#!/bin/bash
# The boot script of a dupsworks NAT instance. The user data is this file with the stack's settings
# (the DUPSWORKS_* variables below) written in after its first line; Amazon Linux runs it once, at
# first boot, with no arguments: every part in order.
#
#   boot.sh               every part: forwarding, masquerade
#   boot.sh PART...       only those parts, in the order given
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

readonly PARTS=(forwarding masquerade)

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
