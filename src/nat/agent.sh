#!/bin/bash
# The dupsworks NAT agent: runs on every NAT instance (a systemd service the user data installs),
# watches the next NAT of the ring through its heartbeat route, takes over that zone's private
# route when it fails, and gives the route back once the zone's NAT is healthy again.
#
#   dupsworks-agent [CONFIG]      CONFIG: default /etc/dupsworks/agent.conf (written by the user data)
#
# What it needs is what a stock Amazon Linux 2023 AMI ships: bash (5.x: associative arrays and
# EPOCHREALTIME), coreutils (date, mkfifo, sleep with fractions, mktemp), grep, sed, gawk
# (awk), iputils (ping) and curl (curl-minimal; 7.75 or newer for --aws-sigv4). It calls the EC2
# and SNS Query APIs with curl, signed with the instance role's credentials from IMDSv2: an AWS
# CLI call costs a Python start-up (a second or so on a small instance), and the hot path of a
# takeover is three calls. Nothing here is fetched from a package registry.
#
# How it decides (the README's "Failover" section says it for users):
#   - probes run all the time, one long-lived ping each, one answer per probe interval:
#       self        the zone's heartbeat.viaInternetGateway, straight out through this NAT's own
#                   internet gateway (a NAT that cannot reach the internet never takes over)
#       via K       ring zone K's NAT, tested whole: the address ring zone K-1 names as its
#                   heartbeat.viaPeer, which this zone's public route table sends through zone K's
#                   NAT (K = 1 is this NAT's peer; K > 1 is watched only while 1..K-1 are down)
#       direct K    zone K's NAT's private address (answered by the NAT itself, not forwarded)
#       public K    zone K's NAT's public address, over the internet
#   - zone K is failing after FAIL_AFTER lost via-probes in a row, healthy after RECOVER_AFTER
#     answered ones in a row. Failing with the direct probe answering: it is up but does not
#     forward (take over). Failing with neither direct nor public answering: dead (take over).
#     Direct lost but public answering: a partition between the zones, not a dead NAT (leave it:
#     its zone reaches it, this one does not).
#   - the control plane, read every DISCOVER_SECONDS: a zone NAT that is not running or is
#     impaired, or a blackhole route, is taken over at once.
#   - every write is conditional: the route is read just before ReplaceRoute, and written only if
#     it points at zone K's NAT (or at something dead). It never takes a route another live NAT of
#     the stack serves, and only the NAT that took a route over gives it back, after
#     RECOVER_AFTER good probes and the hold-down (which doubles for a peer that fails again soon).
set -euo pipefail
shopt -s extglob

readonly LAB_ROOT="${DUPSWORKS_LAB_ROOT:-}"
readonly IMDS=http://169.254.169.254
readonly EC2_VERSION=2016-11-15
readonly SNS_VERSION=2010-03-31
readonly DEFAULT_ROUTE=0.0.0.0/0

# Tags this agent writes (documented in the README, read by `dupsworks plan`).
readonly TAG_SERVED_BY=dupsworks:served-by
readonly TAG_SERVED_BY_NAT=dupsworks:served-by-nat
readonly TAG_SERVED_SINCE=dupsworks:served-since
readonly TAG_SWITCH=dupsworks:switch
readonly TAG_SWITCHED_BY=dupsworks:switched-by
readonly TAG_HEALTH=dupsworks:health
readonly TAG_HEALTH_BY=dupsworks:health-by
readonly TAG_HEALTH_SINCE=dupsworks:health-since

# ---- Logging: one line per event on stderr, key=value (values with spaces quoted) -------------------

log() {
  local level=$1 event=$2 line
  shift 2
  line="level=$level event=$event"
  local pair
  for pair in "$@"; do
    local key=${pair%%=*} value=${pair#*=}
    if [[ $value =~ [[:space:]\"=] || -z $value ]]; then
      value=${value//\\/\\\\}
      value="\"${value//\"/\\\"}\""
    fi
    line+=" $key=$value"
  done
  # To stderr: stdout carries the answers of the API calls (journald takes both).
  printf '%s %s\n' "$(utc_now)" "$line" >&2
}

utc_now() { TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }

die() {
  log error fatal "message=$*"
  exit 1
}

# Milliseconds since the epoch into NOW, without a fork (EPOCHREALTIME's separator follows the locale).
clock() {
  local micros=${EPOCHREALTIME//[!0-9]/}
  NOW=$((10#$micros / 1000))
}

# ---- Configuration: KEY=value lines, stable values only (no instance ids) ---------------------------

declare -A CFG=()

load_config() {
  local file="$LAB_ROOT$1" line
  [[ -r $file ]] || die "cannot read the configuration $file"
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    [[ $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || die "$file: not KEY=value: $line"
    CFG[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done <"$file"
  local key
  for key in STACK REGION ZONE RING_ZONES RING_VIA_PEER RING_NAT_IDS RING_PRIVATE_TABLE_IDS PUBLIC_TABLE_ID SELF_TARGET \
    STACK_TAG RESOURCE_TAG PROBE_INTERVAL_MS FAIL_AFTER RECOVER_AFTER HOLD_DOWN_SECONDS DISCOVER_SECONDS; do
    [[ -n ${CFG[$key]:-} ]] || die "$file: $key is missing"
  done
  for key in PROBE_INTERVAL_MS FAIL_AFTER RECOVER_AFTER HOLD_DOWN_SECONDS DISCOVER_SECONDS; do
    [[ ${CFG[$key]} =~ ^[0-9]+$ ]] || die "$file: $key must be a whole number, not ${CFG[$key]}"
  done
  IFS=, read -r -a RING <<<"${CFG[RING_ZONES]}"
  IFS=, read -r -a VIA_PEER <<<"${CFG[RING_VIA_PEER]}"
  IFS=, read -r -a NAT_ID <<<"${CFG[RING_NAT_IDS]}"
  IFS=, read -r -a PRIVATE_TABLE_ID <<<"${CFG[RING_PRIVATE_TABLE_IDS]}"
  ZONES=${#RING[@]}
  ((ZONES >= 2)) || die "$file: RING_ZONES needs at least two zones"
  ((${#VIA_PEER[@]} == ZONES && ${#NAT_ID[@]} == ZONES && ${#PRIVATE_TABLE_ID[@]} == ZONES)) ||
    die "$file: RING_VIA_PEER, RING_NAT_IDS and RING_PRIVATE_TABLE_IDS need one entry per ring zone"
  [[ ${RING[0]} == "${CFG[ZONE]}" ]] || die "$file: RING_ZONES must start with this zone, ${CFG[ZONE]}"
  INTERVAL_MS=${CFG[PROBE_INTERVAL_MS]}
  FAIL_AFTER=${CFG[FAIL_AFTER]}
  RECOVER_AFTER=${CFG[RECOVER_AFTER]}
  HOLD_BASE=${CFG[HOLD_DOWN_SECONDS]}
  # A supporting probe (self, direct, public) counts as down after half as many losses in a row as
  # the via-probe needs: it has to tell the story of the same outage, seen from another angle.
  DOWN_AFTER=$(((FAIL_AFTER + 1) / 2))
  # A zone taken over again within twice its hold-down of being given back gets twice the
  # hold-down (up to 16 times the configured one); one that stays up that long, the configured one.
  HOLD_MAX=$((16 * HOLD_BASE))
}

# ---- IMDSv2: identity and the instance role's credentials ------------------------------------------

IMDS_TOKEN=''
IMDS_TOKEN_AT=0

imds() {
  clock
  if [[ -z $IMDS_TOKEN ]] || ((NOW - IMDS_TOKEN_AT > 3600000)); then
    IMDS_TOKEN=$(curl -sS -f -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \
      --connect-timeout 1 --max-time 2 "$IMDS/latest/api/token") || return 1
    IMDS_TOKEN_AT=$NOW
  fi
  curl -sS -f -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" --connect-timeout 1 --max-time 2 "$IMDS/latest/$1"
}

identify() {
  SELF_ID=$(imds meta-data/instance-id) || return 1
  local az mac
  az=$(imds meta-data/placement/availability-zone) || return 1
  [[ $az == "${CFG[ZONE]}" ]] || die "the configuration is for zone ${CFG[ZONE]} but this instance is in $az"
  mac=$(imds meta-data/mac) || return 1
  SELF_ENI=$(imds "meta-data/network/interfaces/macs/$mac/interface-id") || return 1
  DOMAIN=$(imds meta-data/services/domain 2>/dev/null) || DOMAIN=amazonaws.com
}

# The string field $1 of IMDS's JSON answer (AL2023 ships no jq).
json_field() {
  awk -v key="$1" '
    !found && match($0, "\"" key "\"[[:space:]]*:[[:space:]]*\"[^\"]*\"") {
      value = substr($0, RSTART, RLENGTH); sub(/^[^:]*:[[:space:]]*"/, "", value); sub(/"$/, "", value)
      print value; found = 1
    }
  '
}

CRED_FILE=''
CRED_REFRESH_AT=0

# Writes the role's credentials where curl reads them (-K: a config file, so the secret is not on
# a command line other processes can see), and when to read them again.
refresh_credentials() {
  local role json key secret token expires
  role=$(imds meta-data/iam/security-credentials/) || return 1
  role=${role%%$'\n'*}
  json=$(imds "meta-data/iam/security-credentials/$role") || return 1
  key=$(json_field AccessKeyId <<<"$json")
  secret=$(json_field SecretAccessKey <<<"$json")
  token=$(json_field Token <<<"$json")
  expires=$(json_field Expiration <<<"$json")
  [[ -n $key && -n $secret ]] || return 1
  local file="$CRED_FILE.new"
  (
    umask 077
    printf 'user = "%s:%s"\n' "$key" "$secret"
    [[ -z $token ]] || printf 'header = "x-amz-security-token: %s"\n' "$token"
  ) >"$file"
  mv -f "$file" "$CRED_FILE"
  clock
  local until_ms=$((NOW + 600000))
  if [[ -n $expires ]] && expires=$(date -d "$expires" +%s 2>/dev/null); then
    # Five minutes before they expire, or in ten minutes, whichever is sooner.
    ((expires * 1000 - 300000 < until_ms)) && until_ms=$((expires * 1000 - 300000))
  fi
  CRED_REFRESH_AT=$until_ms
}

# ---- The AWS Query APIs, with curl ------------------------------------------------------------------

endpoint_of() {
  local service=$1 region=$2
  if [[ -n ${CFG[ENDPOINT_URL]:-} ]]; then
    printf '%s' "${CFG[ENDPOINT_URL]%/}/"
  else
    printf 'https://%s.%s.%s/' "$service" "$region" "$DOMAIN"
  fi
}

# One call: SERVICE REGION VERSION ACTION [NAME=VALUE]... The answer's XML goes to stdout. Returns
# 0 on success, 2 for an error worth retrying (throttling, 5xx, no answer), 1 for any other; the
# error's code is in API_ERROR.
API_ERROR=''
api_once() {
  local service=$1 region=$2 version=$3 action=$4
  shift 4
  local args=(--data-urlencode "Action=$action" --data-urlencode "Version=$version")
  local param
  for param in "$@"; do args+=(--data-urlencode "$param"); done
  local answer status
  if ! answer=$(curl -sS --aws-sigv4 "aws:amz:$region:$service" -K "$CRED_FILE" --connect-timeout 2 --max-time 5 \
    -w '\n%{http_code}' "${args[@]}" "$(endpoint_of "$service" "$region")" 2>&1); then
    API_ERROR="no answer (${answer##*$'\n'})"
    return 2
  fi
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  if [[ $status == 2?? ]]; then
    printf '%s\n' "$answer"
    return 0
  fi
  API_ERROR=$(xml_flat <<<"$answer" | awk '!found && $1 ~ /(^|\.)Code$/ { print $2; found = 1 }')
  [[ -n $API_ERROR ]] || API_ERROR="HTTP $status"
  case $API_ERROR in
  RequestLimitExceeded | Throttling | ThrottlingException | RequestThrottled | InternalError | InternalFailure | \
    ServiceUnavailable | Unavailable | HTTP\ 5??) return 2 ;;
  esac
  [[ $status == 5?? ]] && return 2
  return 1
}

# api ATTEMPTS SERVICE REGION VERSION ACTION [NAME=VALUE]...: api_once, retried with exponential
# backoff and full jitter while the error is worth retrying.
api() {
  local attempts=$1
  shift
  local n status=0
  for ((n = 1; ; n++)); do
    api_once "$@" && return 0 || status=$?
    if ((status != 2 || n >= attempts)); then
      log warn api-error "action=$4" "code=$API_ERROR" "attempts=$n"
      return "$status"
    fi
    local ceiling=$((200 * (1 << (n - 1)))) delay
    ((ceiling > 5000)) && ceiling=5000
    delay=$((RANDOM % (ceiling + 1)))
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
  done
}

ec2() {
  local attempts=$1 action=$2
  shift 2
  api "$attempts" ec2 "${CFG[REGION]}" "$EC2_VERSION" "$action" "$@"
}

# The XML of a Query API answer as lines "PATH VALUE", one per element that holds text; list
# <item>s are numbered from 1 and the document element is left out:
#   reservationSet.1.instancesSet.1.instanceId i-0123456789abcdef0
xml_flat() {
  awk '
    BEGIN { RS = "<"; depth = 0 }
    NR == 1 { next }
    {
      close_at = index($0, ">")
      tag = substr($0, 1, close_at - 1)
      text = substr($0, close_at + 1)
      if (tag ~ /^[?!]/) next
      if (tag ~ /^\//) {
        if (pending != "" && substr(tag, 2) == name[depth]) print pending, decode(pending_text)
        pending = ""
        depth--
        next
      }
      pending = ""
      self_closing = tag ~ /\/$/
      sub(/\/$/, "", tag)
      split(tag, words, /[ \t\r\n]/)
      depth++
      name[depth] = words[1]
      parent = depth > 1 ? path[depth - 1] : ""
      if (words[1] == "item") segment = ++items[parent]
      else segment = words[1]
      path[depth] = depth == 1 ? "" : (parent == "" ? segment : parent "." segment)
      if (self_closing) { depth--; next }
      if (depth > 1) { pending = path[depth]; pending_text = text }
    }
    function decode(s) {
      gsub(/[\r\n]+/, " ", s)
      gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s)
      gsub(/&amp;/, "\\&", s)
      return s
    }
  '
}

# ---- Discovery: the stack's NATs and route tables, by its tags ---------------------------------------

# Lines the main loop reads:
#   instance ID STATE PRIVATE_IP PUBLIC_IP LOGICAL_ID
#   status ID impaired|ok
#   table ID LOGICAL_ID
#   route TABLE DESTINATION TARGET STATE
#   subnet TABLE SUBNET
#   tag TABLE KEY VALUE...
#
# ATTEMPTS [quick]: quick leaves out the status checks (the impaired ones stay as last read).
discover() {
  local filter=("Filter.1.Name=tag:${CFG[STACK_TAG]}" "Filter.1.Value.1=${CFG[STACK]}")
  local instances tables listing="$RUN_DIR/listing.$BASHPID" reads=()
  ec2 "$1" DescribeInstances "${filter[@]}" >"$listing.instances" &
  reads+=($!)
  ec2 "$1" DescribeRouteTables "${filter[@]}" >"$listing.tables" &
  reads+=($!)
  local read failed=''
  for read in "${reads[@]}"; do wait "$read" || failed=1; done
  instances=$(<"$listing.instances") tables=$(<"$listing.tables")
  rm -f "$listing.instances" "$listing.tables"
  [[ -z $failed ]] || return 1
  local listed
  listed=$(xml_flat <<<"$instances" | awk -v resource="${CFG[RESOURCE_TAG]}" '
    match($1, /^reservationSet\.[0-9]+\.instancesSet\.[0-9]+\./) {
      key = substr($1, 1, RLENGTH - 1); field = substr($1, RLENGTH + 1); value = $2
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      if (field == "instanceId") id[key] = value
      else if (field == "instanceState.name") state[key] = value
      else if (field == "privateIpAddress") private[key] = value
      else if (field == "ipAddress") public[key] = value
      else if (field ~ /^tagSet\.[0-9]+\.key$/) { t = field; sub(/\.key$/, "", t); tagkey[key, t] = value }
      else if (field ~ /^tagSet\.[0-9]+\.value$/) { t = field; sub(/\.value$/, "", t); tagvalue[key, t] = value }
    }
    END {
      for (k in tagkey) { split(k, part, SUBSEP); if (tagkey[k] == resource) logical[part[1]] = tagvalue[k] }
      for (i = 1; i <= n; i++) {
        k = order[i]
        printf "instance %s %s %s %s %s\n", id[k], state[k], (private[k] == "" ? "-" : private[k]),
          (public[k] == "" ? "-" : public[k]), (logical[k] == "" ? "-" : logical[k])
      }
    }
  ')
  printf '%s\n' "$listed"
  local running=() id state
  while read -r _ id state _; do
    [[ $state == running ]] && running+=("$id")
  done < <(grep '^instance ' <<<"$listed" || true)
  if [[ ${2:-} == quick ]]; then
    for id in "${running[@]}"; do [[ -z ${INST_IMPAIRED[$id]:-} ]] || echo "status $id impaired"; done
  elif ((${#running[@]} > 0)); then
    local params=("IncludeAllInstances=true") i
    for i in "${!running[@]}"; do params+=("InstanceId.$((i + 1))=${running[$i]}"); done
    local statuses
    if statuses=$(ec2 "$1" DescribeInstanceStatus "${params[@]}"); then
      xml_flat <<<"$statuses" | awk '
        match($1, /^instanceStatusSet\.[0-9]+\./) {
          key = substr($1, 1, RLENGTH - 1); field = substr($1, RLENGTH + 1)
          if (field == "instanceId") id[key] = $2
          if (field == "instanceStatus.status" || field == "systemStatus.status") if ($2 == "impaired") bad[key] = 1
        }
        END { for (k in id) printf "status %s %s\n", id[k], (k in bad ? "impaired" : "ok") }
      '
    fi
  fi
  xml_flat <<<"$tables" | awk -v resource="${CFG[RESOURCE_TAG]}" '
    match($1, /^routeTableSet\.[0-9]+\./) {
      key = substr($1, 1, RLENGTH - 1); field = substr($1, RLENGTH + 1)
      value = $0; sub(/^[^ ]+ /, "", value)
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      if (field == "routeTableId") id[key] = value
      else if (match(field, /^routeSet\.[0-9]+\./)) {
        r = key SUBSEP substr(field, 1, RLENGTH - 1); f = substr(field, RLENGTH + 1)
        if (!(r in rseen)) { rseen[r] = 1; routes[key] = routes[key] " " r }
        if (f == "destinationCidrBlock") dest[r] = value
        else if (f == "state") rstate[r] = value
        else if (f == "instanceId") target[r] = value
        else if (f == "networkInterfaceId" && !(r in target)) target[r] = value
        else if (f == "gatewayId" || f == "natGatewayId" || f == "transitGatewayId" || f == "vpcPeeringConnectionId") target[r] = value
      }
      else if (field ~ /^associationSet\.[0-9]+\.subnetId$/) subnets[key] = subnets[key] " " value
      else if (field ~ /^tagSet\.[0-9]+\.key$/) { t = field; sub(/\.key$/, "", t); tagkey[key, t] = value; tags[key] = tags[key] " " t }
      else if (field ~ /^tagSet\.[0-9]+\.value$/) { t = field; sub(/\.value$/, "", t); tagvalue[key, t] = value }
    }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]; logical = "-"
        split(tags[k], list, " ")
        for (j in list) if (tagkey[k, list[j]] == resource) logical = tagvalue[k, list[j]]
        printf "table %s %s\n", id[k], logical
        split(routes[k], rs, " ")
        for (j in rs) {
          r = rs[j]
          if (dest[r] != "") printf "route %s %s %s %s\n", id[k], dest[r], (target[r] == "" ? "-" : target[r]), (rstate[r] == "" ? "active" : rstate[r])
        }
        split(subnets[k], ss, " ")
        for (j in ss) printf "subnet %s %s\n", id[k], ss[j]
        for (j in list) if (tagkey[k, list[j]] ~ /^dupsworks:/) printf "tag %s %s %s\n", id[k], tagkey[k, list[j]], tagvalue[k, list[j]]
      }
    }
  '
}

# What discovery found, in arrays keyed by instance id, table id or logical id.
declare -A INST_STATE=() INST_IP=() INST_PUBLIC=() INST_LOGICAL=() INST_IMPAIRED=() TABLE_OF=() ROUTE=() ROUTE_STATE=()
declare -A TABLE_SUBNETS=() TABLE_TAG=()

load_discovery() {
  INST_STATE=() INST_IP=() INST_PUBLIC=() INST_LOGICAL=() INST_IMPAIRED=() TABLE_OF=() ROUTE=() ROUTE_STATE=()
  TABLE_SUBNETS=() TABLE_TAG=()
  local kind a b c d e
  while read -r kind a b c d e; do
    case $kind in
    instance)
      INST_STATE[$a]=$b INST_IP[$a]=$c INST_PUBLIC[$a]=$d INST_LOGICAL[$a]=$e
      ;;
    status) [[ $b == impaired ]] && INST_IMPAIRED[$a]=1 ;;
    table) [[ $b == - ]] || TABLE_OF[$b]=$a ;;
    route) ROUTE["$a $b"]=$c ROUTE_STATE["$a $b"]=$d ;;
    subnet) TABLE_SUBNETS[$a]="${TABLE_SUBNETS[$a]:-}${TABLE_SUBNETS[$a]:+,}$b" ;;
    tag) TABLE_TAG["$a $b"]="$c${d:+ $d}${e:+ $e}" ;;
    esac
  done <"$1"
  DISCOVERED=1
}

# Discovery now, in the foreground: before every decision, so it acts on what the API says now.
discover_now() {
  local file="$RUN_DIR/discovery.now"
  discover 2 quick >"$file" || return 1
  load_discovery "$file"
  follow_targets
}

# ---- What the ring looks like now ------------------------------------------------------------------

# RT: what the route to $2 in the table whose logical id is $1 points at, or "-" (no such route).
route_target() {
  local table=${TABLE_OF[$1]:-}
  RT=-
  [[ -z $table ]] || RT=${ROUTE["$table $2"]:--}
}

# The NAT whose health via probe K tests: the target of this zone's heartbeat route to
# VIA_PEER[K-1]. Reverts go to it: it is the instance the probe proved.
probe_target() { route_target "${CFG[PUBLIC_TABLE_ID]}" "${VIA_PEER[$(($1 - 1))]}/32"; }

live() { [[ ${INST_STATE[$1]:-} == running && -z ${INST_IMPAIRED[$1]:-} ]]; }

# Starting counts as having a NAT: the stack is being built, or the NAT was just started again.
coming() { [[ ${INST_STATE[$1]:-} == pending ]]; }

# Zone K has no working NAT, as the control plane says: none of its instances runs unimpaired, or
# its private route is a blackhole.
control_plane_dead() {
  local k=$1 id table
  table=${TABLE_OF[${PRIVATE_TABLE_ID[$k]}]:-}
  if [[ -n $table && ${ROUTE_STATE["$table $DEFAULT_ROUTE"]:-} == blackhole ]]; then
    CP_REASON="its private route is a blackhole"
    return 0
  fi
  local seen=''
  for id in "${!INST_LOGICAL[@]}"; do
    [[ ${INST_LOGICAL[$id]} == "${NAT_ID[$k]}" ]] || continue
    if live "$id" || coming "$id"; then return 1; fi
    seen+="$id is ${INST_IMPAIRED[$id]:+impaired and }${INST_STATE[$id]}; "
  done
  CP_REASON=${seen:-"no instance of ${NAT_ID[$k]} exists; "}
  CP_REASON=${CP_REASON%; }
  return 0
}

# ---- Probes -----------------------------------------------------------------------------------------

declare -A OK=() FAIL=() SEEN_OK=() PROBE_PID=() PROBE_ADDR=()

# One probe: a long-lived ping whose every verdict (an answer, or none by the next send) becomes
# "probe NAME ok|fail" on the event pipe. Runs until killed; a ping that exits (no route, a name
# that does not resolve) counts as a loss and is started again after an interval.
probe_loop() {
  local name=$1 target=$2 interval=$3 line seq last=0
  exec 3>&- 4>"$EVENTS"
  while :; do
    while IFS= read -r line; do
      if [[ $line =~ icmp_seq=([0-9]+) ]]; then
        seq=${BASH_REMATCH[1]}
        ((seq > last)) || continue
        last=$seq
        if [[ $line == *" bytes from "* ]]; then echo "probe $name ok" >&4; else echo "probe $name fail" >&4; fi
      elif [[ $line == ping:* ]]; then
        echo "probe $name fail" >&4
      fi
    done < <(exec ping -n -O -i "$interval" -W 1 "$target" 2>&1)
    last=0
    echo "probe $name fail" >&4
    sleep "$interval"
  done
}

start_probe() {
  local name=$1 target=$2
  stop_probe "$name"
  OK[$name]=0 FAIL[$name]=0 SEEN_OK[$name]=''
  PROBE_ADDR[$name]=$target
  [[ $target == - ]] && return
  probe_loop "$name" "$target" "$PROBE_INTERVAL" &
  PROBE_PID[$name]=$!
}

stop_probe() {
  local pid=${PROBE_PID[$1]:-}
  [[ -z $pid ]] || {
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  }
  unset 'PROBE_PID[$1]'
}

# The direct and public probes of each watched zone follow its NAT's addresses: a replaced NAT
# has new ones. A new target also starts the zone's health over: it is another instance.
declare -A TARGET=() HEALTH=()
follow_targets() {
  local k target
  for ((k = 1; k < ZONES; k++)); do
    probe_target "$k"
    target=$RT
    if [[ $target != "${TARGET[$k]:-}" ]]; then
      [[ -z ${TARGET[$k]:-} ]] || log info probe-target "zone=${RING[$k]}" "from=${TARGET[$k]}" "to=$target"
      TARGET[$k]=$target
      HEALTH[$k]=unknown
      OK[via$k]=0 FAIL[via$k]=0
    fi
    local private=${INST_IP[$target]:--} public=${INST_PUBLIC[$target]:--}
    [[ $private == "${PROBE_ADDR[direct$k]:-}" ]] || start_probe "direct$k" "$private"
    [[ $public == "${PROBE_ADDR[public$k]:-}" ]] || start_probe "public$k" "$public"
  done
}

self_healthy() { [[ -n ${SEEN_OK[self]} ]] && ((FAIL[self] < DOWN_AFTER)); }

# Zone K's NAT fails the via probe, but its private address is lost while its public one answers:
# the path between the zones is cut, not the NAT. A partition lasts until the probe through the
# NAT answers again (or its public address is lost too): when the cut heals, its private address
# may answer a probe or two before the probe through it does, and that is no NAT that stopped
# forwarding.
declare -A PARTED=()
partitioned() {
  local k=$1
  local direct=${FAIL[direct$k]:-0} public=${FAIL[public$k]:-0}
  if [[ -z ${SEEN_OK[public$k]:-} ]] || ((public >= DOWN_AFTER)); then
    unset 'PARTED[$k]'
    return 1
  fi
  ((direct < DOWN_AFTER)) || PARTED[$k]=1
  [[ -n ${PARTED[$k]:-} ]]
}

# Down as this NAT sees it: failing (and no partition), or dead by the control plane.
down_in_view() {
  local k=$1
  { [[ ${HEALTH[$k]} == failing ]] && ! partitioned "$k"; } || control_plane_dead "$k"
}

# Zone K is this NAT's to watch: K = 1 always, K > 1 while every zone between them is down.
watched() {
  local m
  for ((m = 1; m < $1; m++)); do down_in_view "$m" || return 1; done
}

on_probe() {
  local name=$1 result=$2
  [[ -n ${OK[$name]+set} ]] || return 0
  # While this NAT cannot reach the internet itself, a probe through its peer says nothing about
  # the peer: it is not counted, so a peer is never found failing by this NAT's own outage.
  if [[ $name == via* && $result == fail ]] && ! self_healthy; then return 0; fi
  if [[ $result == ok ]]; then
    OK[$name]=$((OK[$name] + 1)) FAIL[$name]=0 SEEN_OK[$name]=1
  else
    FAIL[$name]=$((FAIL[$name] + 1)) OK[$name]=0
  fi
  if [[ $name == self ]] && ((FAIL[self] == DOWN_AFTER)); then forget_failures; fi
  [[ $name == via* ]] || return 0
  local k=${name#via} previous=${HEALTH[${name#via}]}
  [[ $result != ok ]] || unset 'PARTED[$k]'
  # Without its heartbeat route the probe leaves through this NAT's own gateway: it proves nothing.
  [[ ${TARGET[$k]:--} != - ]] || return 0
  if ((FAIL[$name] >= FAIL_AFTER)) && [[ $previous != failing ]]; then
    set_health "$k" failing
  elif ((OK[$name] >= RECOVER_AFTER)) && [[ $previous != ok ]]; then
    set_health "$k" ok
  fi
}

# This NAT lost its own way out: what its probes through the others lost meanwhile is its own
# outage, not theirs. A zone it found failing must fail again, from scratch, once it is back.
forget_failures() {
  local k
  log warn self-down "target=${CFG[SELF_TARGET]}" "message=this NAT cannot reach the internet itself; not judging its peers until it can"
  for ((k = 1; k < ZONES; k++)); do
    FAIL[via$k]=0
    [[ ${HEALTH[$k]} != failing ]] || HEALTH[$k]=unknown
  done
}

set_health() {
  local k=$1 health=$2
  clock
  HEALTH[$k]=$health
  log info "peer-$health" "zone=${RING[$k]}" "nat=${TARGET[$k]}" "via=${VIA_PEER[$((k - 1))]}" \
    "direct=$(verdict "direct$k")" "public=$(verdict "public$k")"
  # Only this NAT's own peer: its watcher's word is what a rolling replacement waits for.
  ((k == 1)) && [[ ${TARGET[1]} == i-* ]] &&
    background tag_resource "${TARGET[1]}" "$TAG_HEALTH=$health" "$TAG_HEALTH_BY=$SELF_ID" "$TAG_HEALTH_SINCE=$(utc_now)"
  return 0
}

verdict() {
  local name=$1
  if [[ ${PROBE_ADDR[$name]:--} == - ]]; then
    printf 'unknown'
  elif ((FAIL[$name] >= DOWN_AFTER)); then
    printf 'lost'
  elif [[ -n ${SEEN_OK[$name]} ]]; then
    printf 'answers'
  else
    printf 'unknown'
  fi
}

# ---- Decisions --------------------------------------------------------------------------------------

declare -A SINCE=() HOLD=() LAST_REVERT=() NEXT_TRY=() SAID=()

# Says something about zone K once, until it says something else.
say_once() {
  local k=$1 what=$2
  [[ ${SAID[$k]:-} == "$what" ]] && return 0
  SAID[$k]=$what
  shift 2
  log "$@"
}

evaluate() {
  local k=$1
  [[ -n ${DISCOVERED:-} ]] || return 0
  clock
  ((NOW >= ${NEXT_TRY[$k]:-0})) || return 0
  route_target "${PRIVATE_TABLE_ID[$k]}" "$DEFAULT_ROUTE"
  local current=$RT
  if [[ $current == "$SELF_ID" ]]; then
    [[ -n ${SINCE[$k]:-} ]] || adopt "$k"
    [[ ${HEALTH[$k]} == ok ]] || return 0
    control_plane_dead "$k" && return 0
    ((NOW - SINCE[$k] >= HOLD[$k] * 1000)) || return 0
    revert "$k"
    return 0
  fi
  unset 'SINCE[$k]'
  watched "$k" || return 0
  local reason=''
  if control_plane_dead "$k"; then
    reason="control plane: $CP_REASON"
  elif [[ ${HEALTH[$k]} == failing ]] && ((${FAIL[via$k]:-0} >= FAIL_AFTER)); then
    # (Still failing: a probe through it that answered since means it is recovering.)
    if partitioned "$k"; then
      say_once "$k" partition warn partition "zone=${RING[$k]}" "nat=${TARGET[$k]}" \
        "message=the probe through it and its private address are lost but its public address answers: the path between the zones is cut; not taking over"
      return 0
    fi
    reason="$FAIL_AFTER probes through it lost in a row; its private address $(verdict "direct$k"), its public address $(verdict "public$k")"
  fi
  if [[ -n $reason ]]; then
    self_healthy || {
      say_once "$k" self-down warn takeover-skipped "zone=${RING[$k]}" "reason=$reason" \
        "message=this NAT cannot reach the internet itself (${CFG[SELF_TARGET]} does not answer): not taking over"
      return 0
    }
    switch "$k" takeover "$SELF_ID" "$reason"
  elif [[ ${HEALTH[$k]} == ok && $current != - ]] && ! live "$current" && [[ ${TARGET[$k]} != "$current" ]]; then
    self_healthy && switch "$k" restore "${TARGET[$k]}" "it pointed at $current, which is not running; ${NAT_ID[$k]} is healthy"
  fi
  return 0
}

# Serving a zone this agent did not take over in this run (it restarted): since when, from the tags.
adopt() {
  local k=$1 table=${TABLE_OF[${PRIVATE_TABLE_ID[$1]}]}
  local since=${TABLE_TAG["$table $TAG_SERVED_SINCE"]:-} by=${TABLE_TAG["$table $TAG_SERVED_BY"]:-}
  clock
  SINCE[$k]=$NOW
  if [[ $by == "$SELF_ID" && -n $since ]] && since=$(date -d "$since" +%s 2>/dev/null); then SINCE[$k]=$((since * 1000)); fi
  HOLD[$k]=${HOLD[$k]:-$HOLD_BASE}
  log info serving "zone=${RING[$k]}" "table=$table" "since=$(date -u -d "@$((SINCE[$k] / 1000))" +%Y-%m-%dT%H:%M:%SZ)"
}

revert() {
  local k=$1
  switch "$k" revert "${TARGET[$k]}" "${NAT_ID[$k]} answered $RECOVER_AFTER probes in a row; hold-down of ${HOLD[$k]}s passed"
}

# Points zone K's private default route at `to`, if the route, read afresh, still points where
# this decision expects: takeover (at zone K's NAT or something dead), restore (at something
# dead), revert (at this NAT).
switch() {
  local k=$1 kind=$2 to=$3 reason=$4
  clock
  local started=$NOW
  NEXT_TRY[$k]=$((NOW + 1000))
  discover_now || {
    log warn decision-deferred "zone=${RING[$k]}" "decision=$kind" "message=cannot read the stack now"
    return 0
  }
  local table=${TABLE_OF[${PRIVATE_TABLE_ID[$k]}]:-}
  [[ -n $table ]] || {
    say_once "$k" no-table warn decision-skipped "zone=${RING[$k]}" "message=no route table tagged ${PRIVATE_TABLE_ID[$k]}"
    return 0
  }
  route_target "${PRIVATE_TABLE_ID[$k]}" "$DEFAULT_ROUTE"
  local current=$RT
  [[ $current != - ]] || {
    say_once "$k" no-route warn decision-skipped "zone=${RING[$k]}" "table=$table" "message=it has no $DEFAULT_ROUTE route"
    return 0
  }
  case $kind in
  revert)
    [[ $current == "$SELF_ID" ]] || {
      log info revert-skipped "zone=${RING[$k]}" "table=$table" "message=the route points at $current now, not at this NAT"
      unset 'SINCE[$k]'
      return 0
    }
    probe_target "$k"
    to=$RT
    if [[ $to == - ]] || ! live "$to" || [[ ${INST_LOGICAL[$to]} != "${NAT_ID[$k]}" ]]; then
      log info revert-skipped "zone=${RING[$k]}" "table=$table" "message=its NAT ($to) is not a running ${NAT_ID[$k]}"
      return 0
    fi
    ;;
  takeover | restore)
    if [[ $current == "$SELF_ID" ]]; then
      return 0
    elif [[ $kind == takeover && $current != "${TARGET[$k]}" ]] && live "$current"; then
      # The probes judged the NAT the heartbeat route points at, and another one runs and serves the
      # zone: in a rolling replacement, the new NAT is tried while the old one still serves.
      say_once "$k" "served-by-$current" info takeover-skipped "zone=${RING[$k]}" "table=$table" \
        "message=the probes went through ${TARGET[$k]}, but $current (${INST_LOGICAL[$current]:-no NAT of the stack}) runs and serves it: left as it is"
      return 0
    elif [[ $kind == restore ]] && { [[ $to == - ]] || ! live "$to"; }; then
      return 0
    elif [[ $current != - ]] && live "$current" && [[ ${INST_LOGICAL[$current]:-} != "${NAT_ID[$k]}" ]]; then
      say_once "$k" "served-by-$current" info takeover-skipped "zone=${RING[$k]}" "table=$table" \
        "message=another live NAT of the stack ($current, ${INST_LOGICAL[$current]:-no NAT of it}) serves it"
      return 0
    elif [[ $current != - && -z ${INST_STATE[$current]:-} && ${ROUTE_STATE["$table $DEFAULT_ROUTE"]:-} != blackhole ]]; then
      say_once "$k" "foreign-$current" warn takeover-skipped "zone=${RING[$k]}" "table=$table" \
        "message=the route points at $current, which is no instance of the stack: left as it is"
      return 0
    fi
    ;;
  esac
  local params=("RouteTableId=$table" "DestinationCidrBlock=$DEFAULT_ROUTE" "InstanceId=$to")
  ec2 3 ReplaceRoute "${params[@]}" >/dev/null || return 0
  clock
  local took=$((NOW - started)) since
  since=$(utc_now)
  if [[ $kind == revert || $kind == restore ]]; then
    LAST_REVERT[$k]=$NOW
    unset 'SINCE[$k]'
  else
    if [[ -n ${LAST_REVERT[$k]:-} ]] && ((NOW - LAST_REVERT[$k] < 2000 * ${HOLD[$k]:-$HOLD_BASE})); then
      HOLD[$k]=$((2 * ${HOLD[$k]:-$HOLD_BASE}))
      ((HOLD[$k] > HOLD_MAX)) && HOLD[$k]=$HOLD_MAX
    else
      HOLD[$k]=$HOLD_BASE
    fi
    SINCE[$k]=$NOW
  fi
  ROUTE["$table $DEFAULT_ROUTE"]=$to
  SAID[$k]=''
  save_state
  local event=$kind
  [[ $kind == takeover ]] && event=failover
  log info "$event" "zone=${RING[$k]}" "table=$table" "subnets=${TABLE_SUBNETS[$table]:-}" "from=$current" "to=$to" \
    "nat=${INST_LOGICAL[$to]:-}" "reason=$reason" "hold_down=${HOLD[$k]:-$HOLD_BASE}s" "api_ms=$took"
  background tag_resource "$table" "$TAG_SERVED_BY=$to" "$TAG_SERVED_BY_NAT=${INST_LOGICAL[$to]:-}" \
    "$TAG_SERVED_SINCE=$since" "$TAG_SWITCH=$event: $reason" "$TAG_SWITCHED_BY=$SELF_ID"
  [[ -z ${CFG[SNS_TOPIC_ARN]:-} ]] ||
    background notify "dupsworks ${CFG[STACK]}: $event in ${RING[$k]}" \
      "NAT instance has switched: $table(${TABLE_SUBNETS[$table]:-}) is now served by $to (${INST_LOGICAL[$to]:-}), $event: $reason"
}

# ---- Notices: tags and SNS, in the background (they never hold a decision up) -----------------------

tag_resource() {
  local resource=$1 params=("ResourceId.1=$1") n=0 pair
  shift
  for pair in "$@"; do
    n=$((n + 1))
    params+=("Tag.$n.Key=${pair%%=*}" "Tag.$n.Value=${pair#*=}")
  done
  ec2 5 CreateTags "${params[@]}" >/dev/null || log warn tag-failed "resource=$resource"
}

notify() {
  local arn=${CFG[SNS_TOPIC_ARN]} region
  region=$(cut -d: -f4 <<<"$arn")
  if api 6 sns "$region" "$SNS_VERSION" Publish "TopicArn=$arn" "Subject=${1:0:100}" "Message=$2" >/dev/null; then
    log info notified "topic=$arn"
  else
    log warn notify-failed "topic=$arn"
  fi
}

background() {
  ("$@") &
}

# ---- State that outlives a restart (hold-downs and when they were last reverted) --------------------

save_state() {
  local k file="$STATE_FILE.new"
  for ((k = 1; k < ZONES; k++)); do
    printf '%s %s %s\n' "${RING[$k]}" "${HOLD[$k]:-$HOLD_BASE}" "${LAST_REVERT[$k]:-0}"
  done >"$file"
  mv -f "$file" "$STATE_FILE"
}

load_state() {
  [[ -r $STATE_FILE ]] || return 0
  local zone hold last k
  while read -r zone hold last; do
    for ((k = 1; k < ZONES; k++)); do
      [[ ${RING[$k]} == "$zone" && $hold =~ ^[0-9]+$ && $last =~ ^[0-9]+$ ]] || continue
      HOLD[$k]=$hold
      ((last == 0)) || LAST_REVERT[$k]=$last
    done
  done <"$STATE_FILE"
  return 0
}

# ---- The main loop ----------------------------------------------------------------------------------

discovery_loop() {
  exec 3>&- 4>"$EVENTS"
  while :; do
    if discover 4 >"$RUN_DIR/discovery.next"; then
      mv -f "$RUN_DIR/discovery.next" "$RUN_DIR/discovery"
      echo "discovered" >&4
    fi
    sleep "${CFG[DISCOVER_SECONDS]}"
  done
}

cleanup() {
  local name
  for name in "${!PROBE_PID[@]}"; do stop_probe "$name"; done
  [[ -z ${DISCOVERY_PID:-} ]] || kill "$DISCOVERY_PID" 2>/dev/null || true
  rm -rf "$RUN_DIR"
}

main() {
  load_config "${1:-/etc/dupsworks/agent.conf}"
  PROBE_INTERVAL="$((INTERVAL_MS / 1000)).$(printf '%03d' $((INTERVAL_MS % 1000)))"
  local state_dir="$LAB_ROOT/var/lib/dupsworks"
  mkdir -p "$state_dir" "$LAB_ROOT/run"
  STATE_FILE="$state_dir/agent.state"
  RUN_DIR=$(mktemp -d "$LAB_ROOT/run/dupsworks-agent.XXXXXX")
  CRED_FILE="$RUN_DIR/credentials"
  EVENTS="$RUN_DIR/events"
  trap cleanup EXIT
  trap 'exit 0' TERM INT
  mkfifo "$EVENTS"
  exec 3<>"$EVENTS"

  until identify; do
    log warn waiting "message=the instance metadata service does not answer yet"
    sleep 2
  done
  until refresh_credentials; do
    log warn waiting "message=no instance role credentials in the instance metadata (is an instance profile attached?)"
    sleep 5
  done
  load_state
  local k
  for ((k = 1; k < ZONES; k++)); do
    HOLD[$k]=${HOLD[$k]:-$HOLD_BASE} HEALTH[$k]=unknown
    OK[via$k]=0 FAIL[via$k]=0
  done
  log info start "instance=$SELF_ID" "interface=$SELF_ENI" "zone=${CFG[ZONE]}" "ring=${CFG[RING_ZONES]}" \
    "probe_interval_ms=$INTERVAL_MS" "fail_after=$FAIL_AFTER" "recover_after=$RECOVER_AFTER" "hold_down=${HOLD_BASE}s"

  start_probe self "${CFG[SELF_TARGET]}"
  for ((k = 1; k < ZONES; k++)); do start_probe "via$k" "${VIA_PEER[$((k - 1))]}"; done
  discovery_loop &
  DISCOVERY_PID=$!

  local kind name result
  for (( ; ; )); do
    if read -r -t 1 kind name result <&3; then
      case $kind in
      probe)
        on_probe "$name" "$result"
        [[ $name == self ]] && continue
        k=${name//[!0-9]/}
        evaluate "$k"
        ;;
      discovered)
        load_discovery "$RUN_DIR/discovery"
        follow_targets
        for ((k = 1; k < ZONES; k++)); do evaluate "$k"; done
        ;;
      esac
    fi
    clock
    if ((NOW >= CRED_REFRESH_AT)); then
      refresh_credentials || {
        log warn credentials "message=cannot refresh the instance role credentials; using the old ones"
        CRED_REFRESH_AT=$((NOW + 10000))
      }
    fi
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
