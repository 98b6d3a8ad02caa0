#!/usr/bin/env bash
# `make e2e-container`: build the controller image with podman and run it, as a container,
# against a real etcd and fogsim started on the host (host network); apply a scenario and
# assert the ActiveStrategy reaches Serving and /metrics shows it.
#
# Scenarios (FOGSTRAT_E2E_SCENARIO):
#   smoke (default)  hack/smoke/failover.yaml: self-contained (two `python3 -m http.server`
#                    architectures); Serving on web-main, then `fogsim node down cloud-1`,
#                    Serving on web-backup, /metrics counts the failover, and the published
#                    endpoint names web-backup and answers.
#   examples         deploy/examples/ (the prediction service; needs the workloads in
#                    deploy/examples/workloads/): prediction-lab Serving.
# Both then apply a `driver: fog05` Environment whose YAKS is not there (and the image has
# no native zenoh library): its Reachable condition and the ActiveStrategy's Degraded one
# must each be one line saying what is missing and where to put it.
#
# No image registry is needed: the base image is built from a Debian bookworm rootfs made
# by debootstrap, with python3 + python3-venv added (a plain minbase rootfs has no Python),
# and passed to deploy/Dockerfile as --build-arg BASE=... . The host's CA bundle is copied
# into that base so pip works behind a TLS-intercepting proxy.
#
# Environment: FOGSTRAT_BASE_IMAGE (default localhost/fogstrat-base:bookworm; reused when
# present, FOGSTRAT_REBUILD_BASE=1 rebuilds it), FOGSTRAT_IMAGE (localhost/fogstrat:e2e),
# DEBIAN_MIRROR, FOGSTRAT_E2E_ETCD_PORT (23790), FOGSTRAT_E2E_METRICS_PORT (19469),
# FOGSTRAT_E2E_FOGSIM_PORT (7070; deploy/examples/ get it as ${FOGSIM_URL}), FOGSTRAT_E2E_KEEP=1 (leave
# everything running for inspection). fogsim's nodes get a random 127.A.B.0/24 (the
# scenarios bind $FOS_NODE_IP:8080, so runs on one machine do not take each other's ports).
# Needs root (or sudo) for apt, debootstrap and podman's chroot builds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
RUN=.run/e2e-container
mkdir -p "$RUN"

BASE_IMAGE=${FOGSTRAT_BASE_IMAGE:-localhost/fogstrat-base:bookworm}
IMAGE=${FOGSTRAT_IMAGE:-localhost/fogstrat:e2e}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ETCD_PORT=${FOGSTRAT_E2E_ETCD_PORT:-23790}
METRICS_ADDR=127.0.0.1:${FOGSTRAT_E2E_METRICS_PORT:-19469}
SCENARIO=${FOGSTRAT_E2E_SCENARIO:-smoke}
# deploy/examples/00-environment-lab.yaml's locator is ${FOGSIM_URL}, expanded to
# FOGSIM_ADDR on apply; the smoke scenario's locator is rewritten to FOGSIM_ADDR.
FOGSIM_ADDR=127.0.0.1:${FOGSTRAT_E2E_FOGSIM_PORT:-7070}
PREFIX=/fogstrat-e2e-container-$$
CONTAINER=fogstrat-e2e-$$
# podman on these hosts: runc, explicit ulimits; host network to reach etcd and fogsim.
PODMAN_RUN=(podman run --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
  --network host --no-healthcheck)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "== $*" >&2; }
die() { echo "e2e-container: error: $*" >&2; exit 1; }

ensure_tools() {
  local need=()
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v buildah >/dev/null 2>&1 || need+=(buildah)
  command -v runc >/dev/null 2>&1 || need+=(runc)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

build_base() {
  if podman image exists "$BASE_IMAGE" && [ "${FOGSTRAT_REBUILD_BASE:-0}" != 1 ]; then
    log "base image $BASE_IMAGE exists (FOGSTRAT_REBUILD_BASE=1 rebuilds it)"
    return 0
  fi
  local rootfs="$RUN/rootfs"
  log "debootstrap bookworm + python3 into $rootfs (about a minute)"
  $SUDO rm -rf "$rootfs"
  $SUDO debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >"$RUN/debootstrap.log" 2>&1 ||
    die "debootstrap failed (see $RUN/debootstrap.log)"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    $SUDO cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  fi
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  log "importing $rootfs as $BASE_IMAGE"
  $SUDO tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  $SUDO rm -rf "$rootfs"
}

build_image() {
  [ -f README.md ] || die "README.md missing (the wheel build needs it)"
  log "building $IMAGE from deploy/Dockerfile (BASE=$BASE_IMAGE)"
  podman build --isolation chroot --format docker -f deploy/Dockerfile \
    --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" . >"$RUN/build.log" 2>&1 ||
    { tail -40 "$RUN/build.log" >&2; die "image build failed (see $RUN/build.log)"; }
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() { # name, command...
  local name=$1; shift
  setsid "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

stop_one() {
  local name=$1 pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
}

wait_for() { # description, seconds, command...
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what not reached after ${secs}s"
    sleep 0.5
  done
}

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "---- controller container logs (last 60 lines)" >&2
    podman logs --tail 60 "$CONTAINER" >&2 2>&1 || true
  fi
  if [ "${FOGSTRAT_E2E_KEEP:-0}" = 1 ]; then
    log "kept: container $CONTAINER, etcd 127.0.0.1:$ETCD_PORT prefix $PREFIX, fogsim $FOGSIM_ADDR"
    return
  fi
  podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
  stop_one fogsim
  stop_one etcd
  rm -rf "$RUN/etcd-data"
  [ $rc -eq 0 ] && log "PASS" || log "FAIL (logs under $RUN/)"
}

fogstrat() { FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_PORT FOGSTRAT_PREFIX=$PREFIX "$BIN/fogstrat" "$@"; }

phase_is() { # name phase [active-architecture]
  fogstrat get activestrategy "$1" -o json |
    "$BIN/python" -c 'import json,sys
d=json.load(sys.stdin); d=d["items"][0] if "items" in d else d; st=d.get("status") or {}
ok=st.get("phase")==sys.argv[1] and sys.argv[2] in ("", st.get("activeArchitecture"))
sys.exit(0 if ok else 1)' "$2" "${3:-}"
}

metric_is() { # regex (ERE) that one /metrics line must match entirely
  curl -sf "http://$METRICS_ADDR/metrics" | grep -Eq "^$1\$"
}

# hack/fogsim/nodes.yaml with the node addresses moved to a random 127.A.B.0/24.
private_nodes() {
  local a=$((100 + RANDOM % 150)) b=$((1 + RANDOM % 249))
  sed -E "s/\bip: 127\.0\.10\.([0-9]+)/ip: 127.$a.$b.\1/" hack/fogsim/nodes.yaml >"$RUN/nodes.yaml"
  grep -q "ip: 127.$a.$b." "$RUN/nodes.yaml" || die "could not rewrite node addresses"
}

run_smoke() {
  sed "s#locator: http://127.0.0.1:7070#locator: http://$FOGSIM_ADDR#" hack/smoke/failover.yaml \
    >"$RUN/smoke.yaml"
  log "applying hack/smoke/failover.yaml (prefix $PREFIX)"
  fogstrat apply -f "$RUN/smoke.yaml"
  log "waiting for web-smoke to serve on web-main"
  wait_for "web-smoke Serving on web-main" 120 phase_is web-smoke Serving web-main
  wait_for "/metrics: web-smoke Serving" 15 metric_is \
    'fogstrat_strategy_phase\{.*phase="Serving".*strategy="web-smoke".*\} 1(\.0)?'
  log "fogsim node down cloud-1: waiting for the failover to web-backup"
  FOGSIM_URL="http://$FOGSIM_ADDR" "$BIN/fogsim" node down cloud-1 >/dev/null
  wait_for "web-smoke Serving on web-backup" 60 phase_is web-smoke Serving web-backup
  wait_for "/metrics: one failover web-main -> web-backup" 15 metric_is \
    'fogstrat_failovers_total\{.*from="web-main".*strategy="web-smoke",to="web-backup"\} 1(\.0)?'
  metric_is 'fogstrat_active_architecture\{.*architecture="web-backup".*strategy="web-smoke"\} 1(\.0)?' ||
    die "/metrics: web-backup is not the active architecture"
  wait_for "the published endpoint naming web-backup" 30 endpoint_is web-smoke web-backup
  local url
  url=$(fogstrat get endpoints web-smoke -o json | "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)["url"])')
  curl -sf "$url" | grep -q accuracy || die "the published endpoint $url does not answer"
  log "published endpoint: $url"
}

endpoint_is() { # name architecture: <prefix>/endpoints/default/<name> names it, with a URL
  fogstrat get endpoints "$1" -o json |
    "$BIN/python" -c 'import json,sys
d=json.load(sys.stdin); sys.exit(0 if d.get("architecture")==sys.argv[1] and d.get("url") else 1)' "$2"
}

run_examples() {
  log "applying deploy/examples/ (prefix $PREFIX)"
  FOGSIM_URL=http://$FOGSIM_ADDR fogstrat apply --env-subst -f deploy/examples/
  log "waiting for prediction-lab to reach Serving"
  wait_for "prediction-lab Serving" 240 phase_is prediction-lab Serving
  wait_for "/metrics: prediction-lab Serving" 15 metric_is \
    'fogstrat_strategy_phase\{.*phase="Serving".*strategy="prediction-lab".*\} 1(\.0)?'
}

condition_of() { # kind name type: the condition as "status reason message" (one line)
  fogstrat get "$1" "$2" -o json |
    "$BIN/python" -c 'import json,sys
d=json.load(sys.stdin); d=d["items"][0] if "items" in d else d
c=[c for c in (d.get("status") or {}).get("conditions") or [] if c.get("type")==sys.argv[1]]
sys.exit(1) if not c else print(c[0]["status"], c[0]["reason"], c[0]["message"])' "$3"
}

condition_is() { # kind name type status reason
  local got
  got=$(condition_of "$1" "$2" "$3") || return 1
  [[ $got == "$4 $5 "* ]]
}

# A `driver: fog05` Environment the image cannot use: fog05's YAKS is not at the locator
# and the image has no native zenoh library (no package index ships it). The Environment
# and the ActiveStrategy deploying there must each say so in one line naming the library
# and where to put it, and nothing may be deployed.
run_fog05_error() {
  local strategy yaks_port=$((20000 + RANDOM % 10000))
  strategy=$(fogstrat get strategies -o json |
    "$BIN/python" -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["metadata"]["name"])')
  log "applying a driver: fog05 Environment (YAKS at 127.0.0.1:$yaks_port, nothing there)"
  fogstrat apply -f - <<YAML
apiVersion: fogstrat.io/v1alpha1
kind: Environment
metadata: {name: fog05-unreachable}
spec: {driver: fog05, locator: "127.0.0.1:$yaks_port", timeout: 2s}
---
apiVersion: fogstrat.io/v1alpha1
kind: ActiveStrategy
metadata: {name: fog05-unreachable}
spec: {strategy: $strategy, environment: fog05-unreachable}
YAML
  wait_for "Environment fog05-unreachable Reachable=False ZenohMissing" 60 \
    condition_is environment fog05-unreachable Reachable False ZenohMissing
  wait_for "ActiveStrategy fog05-unreachable Degraded FogUnreachable" 60 \
    condition_is activestrategy fog05-unreachable Degraded True FogUnreachable
  local env_line as_line
  env_line=$(condition_of environment fog05-unreachable Reachable)
  as_line=$(condition_of activestrategy fog05-unreachable Degraded)
  for line in "$env_line" "$as_line"; do
    [[ $line == *"the native zenoh library is missing"* &&
       $line == *"put it at /usr/local/lib/libzenohc.so, or set FOGSTRAT_ZENOH_LIB"* ]] ||
      die "the fog05 error does not say what is missing and where to put it: $line"
  done
  log "Environment: ${env_line#False ZenohMissing }"
  phase_is fog05-unreachable Degraded || die "fog05-unreachable should hold, Degraded"
}

main() {
  local started=$SECONDS
  [ -x "$BIN/fogstrat" ] || die "$BIN/fogstrat missing: run make venv"
  case $SCENARIO in smoke | examples) ;; *) die "FOGSTRAT_E2E_SCENARIO must be smoke or examples" ;; esac
  ensure_tools
  build_base
  build_image
  trap cleanup EXIT

  port_busy "$ETCD_PORT" && die "port $ETCD_PORT busy (set FOGSTRAT_E2E_ETCD_PORT)"
  port_busy "${FOGSIM_ADDR##*:}" && die "fogsim address $FOGSIM_ADDR busy (make stop?)"
  port_busy "${METRICS_ADDR##*:}" && die "port ${METRICS_ADDR##*:} busy (set FOGSTRAT_E2E_METRICS_PORT)"

  log "starting etcd on 127.0.0.1:$ETCD_PORT and fogsim on $FOGSIM_ADDR"
  rm -rf "$RUN/etcd-data"
  start etcd etcd --name e2e --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "e2e=http://127.0.0.1:$((ETCD_PORT + 1))"
  wait_for "etcd healthy" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  private_nodes
  start fogsim "$BIN/fogsim" serve --nodes "$RUN/nodes.yaml" --listen "$FOGSIM_ADDR"
  wait_for "fogsim answering" 30 curl -sf "http://$FOGSIM_ADDR/nodes/list"

  log "running the controller image ($CONTAINER)"
  local workdir=()
  # deploy/examples' ArchitectureData paths are relative: the controller resolves them
  # against its working directory and hands them to fogsim on the host, so run it in the
  # repository's path (mounted read-only so that the directory exists in the container).
  if [ "$SCENARIO" = examples ]; then
    workdir=(-v "$PWD/deploy/examples:$PWD/deploy/examples:ro" --workdir "$PWD")
  fi
  "${PODMAN_RUN[@]}" -d --name "$CONTAINER" "${workdir[@]}" \
    -e "FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_PORT" -e "FOGSTRAT_PREFIX=$PREFIX" \
    "$IMAGE" --metrics-addr "$METRICS_ADDR" --log-format text --instance-id "$CONTAINER" >/dev/null
  wait_for "controller /healthz" 60 curl -sf "http://$METRICS_ADDR/healthz"
  wait_for "controller /readyz" 60 curl -sf "http://$METRICS_ADDR/readyz"

  "run_$SCENARIO"
  run_fog05_error

  log "checking /metrics"
  metric_is 'fogstrat_leader 1(\.0)?' || die "/metrics: fogstrat_leader is not 1"
  if command -v promtool >/dev/null 2>&1; then
    curl -sf "http://$METRICS_ADDR/metrics" | promtool check metrics ||
      die "promtool check metrics: /metrics has problems"
  fi
  fogstrat get activestrategies
  log "scenario $SCENARIO passed in $((SECONDS - started))s (image build included)"
}

main "$@"
