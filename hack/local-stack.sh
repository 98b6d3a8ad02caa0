#!/usr/bin/env bash
# The local stack behind `make run` / `make stop` / `make demo-failover`:
# etcd, fogsim (with the example nodes), the controller, and Prometheus when installed.
# Every process is started in the background with its pid and log under .run/, and
# .run/env exports what the README's commands need to reach this stack.
#
# Every address is a variable (docs/local-stack.md has the whole story):
#   FOGSTRAT_ETCD_PORT        etcd's client port on 127.0.0.1         [2379]
#   FOGSTRAT_ETCD_PEER_PORT   etcd's peer port on 127.0.0.1           [FOGSTRAT_ETCD_PORT + 1]
#   FOGSIM_ADDR               fogsim's HTTP API, host:port            [127.0.0.1:7070]
#   FOGSTRAT_METRICS_ADDR     the controller's /metrics, host:port    [127.0.0.1:9469]
#   FOGSTRAT_PROMETHEUS_ADDR  Prometheus and its console, host:port   [127.0.0.1:9090]
#   FOGSTRAT_NODE_IP_BLOCK    the fog nodes' loopback /24, 127.0.N    [the first of 127.0.10,
#                             127.0.11, ... that no other running stack or listener uses]
#   FOGSTRAT_NODE_IP_BLOCKS   the N that default may take, FIRST-LAST [10-250]
#   FOGSTRAT_DOCUMENTS        what to apply                           [deploy/examples/]
#   FOGSTRAT_WAIT_TIMEOUT     seconds to wait for prediction-lab to serve [180]
# Ports are checked before anything starts; a stack never uses an etcd, fogsim or
# Prometheus it did not start itself (it would read and write someone else's fog).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
BIN=.venv/bin
mkdir -p "$RUN"

ETCD_PORT=${FOGSTRAT_ETCD_PORT:-2379}
ETCD_PEER_PORT=${FOGSTRAT_ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
FOGSIM_ADDR=${FOGSIM_ADDR:-127.0.0.1:7070}
METRICS_ADDR=${FOGSTRAT_METRICS_ADDR:-127.0.0.1:9469}
PROM_ADDR=${FOGSTRAT_PROMETHEUS_ADDR:-127.0.0.1:9090}
DOCUMENTS=${FOGSTRAT_DOCUMENTS:-deploy/examples/}
WAIT_TIMEOUT=${FOGSTRAT_WAIT_TIMEOUT:-180}
STRATEGY=prediction-lab

die() { echo "error: $*" >&2; exit 1; }
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; } # host, port
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
have_prometheus() { command -v prometheus >/dev/null 2>&1; }

start() { # name, command...
  local name=$1; shift
  if alive "$name"; then echo "  $name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  setsid "$@" >"$RUN/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  echo "  $name started (pid $!, log $RUN/$name.log)"
}

wait_for() { # description, seconds, command...
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      die "$what not ready after ${secs}s (see $RUN/$what.log; make stop stops what has started)"
    fi
    sleep 0.3
  done
}

stop_one() { # name
  local name=$1
  [ -f "$RUN/$name.pid" ] || return 0
  local pid; pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "  $name stopped"
  fi
  rm -f "$RUN/$name.pid" "$RUN/$name.addr"
}

# --- before anything starts: every address valid, free, or ours already -------------

check_addr() { # name, variable, host:port
  local name=$1 var=$2 addr=$3 host port
  host=${addr%:*} port=${addr##*:}
  [[ $addr == *:* && $port =~ ^[0-9]+$ && -n $host ]] || die "$var=$addr is not host:port"
  if alive "$name"; then
    local had; had=$(cat "$RUN/$name.addr" 2>/dev/null || echo "?")
    [ "$had" = "$addr" ] || die "$name of this stack already runs on $had, not $var=$addr; run make stop first"
  elif port_busy "$host" "$port"; then
    die "$addr is taken by a process this stack did not start; set $var to a free host:port"
  fi
}

check_ports() {
  [[ $ETCD_PORT =~ ^[0-9]+$ ]] || die "FOGSTRAT_ETCD_PORT=$ETCD_PORT is not a port"
  check_addr etcd FOGSTRAT_ETCD_PORT "127.0.0.1:$ETCD_PORT"
  if ! alive etcd && port_busy 127.0.0.1 "$ETCD_PEER_PORT"; then
    die "etcd's peer port $ETCD_PEER_PORT is taken; set FOGSTRAT_ETCD_PEER_PORT to a free port"
  fi
  check_addr fogsim FOGSIM_ADDR "$FOGSIM_ADDR"
  check_addr controller FOGSTRAT_METRICS_ADDR "$METRICS_ADDR"
  if have_prometheus; then check_addr prometheus FOGSTRAT_PROMETHEUS_ADDR "$PROM_ADDR"; fi
  [ -e "$DOCUMENTS" ] || die "FOGSTRAT_DOCUMENTS=$DOCUMENTS does not exist"
}

# --- the fog's loopback block ------------------------------------------------------

block_in_use() { # 127.0.N: another fogsim runs there, or anything listens in it
  local block=$1 pid
  for pid in $(pgrep -f 'fogsim serve' 2>/dev/null || true); do
    [ "$pid" = "$(cat "$RUN/fogsim.pid" 2>/dev/null)" ] && continue
    local args; args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ $args == *"--ip-block $block "* ]]; then return 0; fi
    if [ "$block" = 127.0.10 ] && [[ $args != *--ip-block* ]]; then return 0; fi
  done
  ss -ltnH 2>/dev/null | awk '{print $4}' | grep -q "^${block//./\\.}\."
}

pick_block() {
  if alive fogsim; then cat "$RUN/ip-block"; return; fi
  if [ -n "${FOGSTRAT_NODE_IP_BLOCK:-}" ]; then
    [[ $FOGSTRAT_NODE_IP_BLOCK =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
      die "FOGSTRAT_NODE_IP_BLOCK=$FOGSTRAT_NODE_IP_BLOCK is not a loopback block such as 127.0.42"
    if block_in_use "$FOGSTRAT_NODE_IP_BLOCK"; then
      die "FOGSTRAT_NODE_IP_BLOCK=$FOGSTRAT_NODE_IP_BLOCK is used by another stack; pick another 127.0.N"
    fi
    echo "$FOGSTRAT_NODE_IP_BLOCK"; return
  fi
  local blocks=${FOGSTRAT_NODE_IP_BLOCKS:-10-250} n
  [[ $blocks =~ ^([0-9]{1,3})-([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[2]}" -le 255 ] ||
    die "FOGSTRAT_NODE_IP_BLOCKS=$blocks is not FIRST-LAST (e.g. 10-250)"
  for n in $(seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"); do
    block_in_use "127.0.$n" || { echo "127.0.$n"; return; }
  done
  die "no free loopback block 127.0.$blocks for the fog's nodes; set FOGSTRAT_NODE_IP_BLOCK"
}

# --- up -----------------------------------------------------------------------------

env_file() { # ip block
  cat >"$RUN/env" <<EOV
# The local fogstrat stack started by make run in $PWD (source it).
export FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_PORT
export ETCDCTL_ENDPOINTS=127.0.0.1:$ETCD_PORT
export FOGSIM_URL=http://$FOGSIM_ADDR
export FOGSTRAT_NODE_IP_BLOCK=$1
export FOGSTRAT_METRICS_URL=http://$METRICS_ADDR
export FOGSTRAT_PROMETHEUS_URL=http://$PROM_ADDR
export FOGSTRAT_DASHBOARD_URL=http://$PROM_ADDR/consoles/fogstrat.html
export FOGSTRAT_ENV_SUBST=1
export PATH=$PWD/$BIN:\$PATH
EOV
}

start_etcd() {
  # fogsim's fog is new at every start, so the documents and status start afresh too.
  alive etcd || rm -rf "$RUN/etcd-data" "$RUN/prometheus-data"
  start etcd etcd --name fogstrat-local --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "fogstrat-local=http://127.0.0.1:$ETCD_PEER_PORT" --logger zap --log-level warn
  echo "127.0.0.1:$ETCD_PORT" >"$RUN/etcd.addr"
  wait_for etcd 20 env -u ETCDCTL_ENDPOINTS etcdctl --endpoints "127.0.0.1:$ETCD_PORT" endpoint health
}

start_prometheus() {
  sed "s/__METRICS_ADDR__/$METRICS_ADDR/" deploy/prometheus/prometheus.local.yml >"$RUN/prometheus.yml"
  cp deploy/prometheus/rules.yaml "$RUN/rules.yaml"
  start prometheus prometheus --config.file "$RUN/prometheus.yml" --storage.tsdb.path "$RUN/prometheus-data" \
    --web.listen-address "$PROM_ADDR" \
    --web.console.templates deploy/prometheus/consoles \
    --web.console.libraries deploy/prometheus/console_libraries
  echo "$PROM_ADDR" >"$RUN/prometheus.addr"
  wait_for prometheus 30 curl -sf "http://$PROM_ADDR/-/ready"
}

up() {
  check_ports
  local block; block=$(pick_block)
  echo "starting the local fogstrat stack (fog nodes in $block.0/24)"
  env_file "$block"
  # shellcheck disable=SC1091
  source "$RUN/env"
  start_etcd

  start fogsim "$BIN/fogsim" serve --nodes hack/fogsim/nodes.yaml --listen "$FOGSIM_ADDR" --ip-block "$block"
  echo "$FOGSIM_ADDR" >"$RUN/fogsim.addr"
  echo "$block" >"$RUN/ip-block"
  wait_for fogsim 20 curl -sf "http://$FOGSIM_ADDR/sim/ping"

  start controller "$BIN/fogstrat" controller --metrics-addr "$METRICS_ADDR" --log-format text
  echo "$METRICS_ADDR" >"$RUN/controller.addr"
  wait_for controller 20 curl -sf "http://$METRICS_ADDR/healthz"

  if have_prometheus; then start_prometheus; fi

  echo "applying $DOCUMENTS (\${FOGSIM_URL} = $FOGSIM_URL)"
  "$BIN/fogstrat" apply --env-subst -f "$DOCUMENTS"
  echo "waiting for $STRATEGY to serve (deploying real processes on fogsim):"
  if ! "$BIN/fogstrat" wait as "$STRATEGY" --for phase=Serving --wait-timeout "$WAIT_TIMEOUT"; then
    echo "  (the stack keeps running for a look: fogstrat describe as $STRATEGY, logs in $RUN/; make stop stops it)" >&2
    exit 1
  fi
  echo
  "$BIN/fogstrat" get activestrategies
  next_steps
}

next_steps() {
  cat <<MSG

fogstrat is running. Next:
  source $RUN/env                     # fogstrat/fogsim/etcdctl pointed at this stack
  fogstrat describe as $STRATEGY # status, conditions, history
  fogstrat logs as $STRATEGY     # what its instances print
  fogsim instance list                # what the fog runs
  curl -s \$FOGSTRAT_METRICS_URL/metrics | grep ^fogstrat_
  make demo-failover                  # take the aggregator's node down and watch
  make stop                           # stop everything
MSG
  if alive prometheus; then
    echo "  Dashboard:  http://$PROM_ADDR/consoles/fogstrat.html"
    echo "  Prometheus: http://$PROM_ADDR (rules loaded from deploy/prometheus/rules.yaml)"
  fi
  return 0
}

down() {
  echo "stopping the local fogstrat stack"
  for name in prometheus controller fogsim etcd; do stop_one "$name"; done
  rm -f "$RUN/ip-block"
}

# --- demo ---------------------------------------------------------------------------

demo_ready() {
  [ -f "$RUN/env" ] || die "$RUN/env not found: start the stack with make run first"
  # shellcheck disable=SC1091
  source "$RUN/env"
  local name
  for name in etcd fogsim controller; do
    alive "$name" || die "this stack's $name is not running: start it with make run (logs: $RUN/$name.log)"
  done
  curl -sf "$FOGSTRAT_METRICS_URL/healthz" >/dev/null ||
    die "the controller's metrics at $FOGSTRAT_METRICS_URL do not answer (log: $RUN/controller.log)"
}

aggregator_node() {
  "$BIN/fogstrat" get as "$STRATEGY" -o json | "$BIN/python" -c '
import json, sys
s = json.load(sys.stdin)["status"]
print(s["architectures"][s["activeArchitecture"]]["placement"]["aggregator"][0])'
}

demo_failover() {
  demo_ready
  local node watcher
  echo "== waiting for federated learning to serve"
  "$BIN/fogstrat" wait as "$STRATEGY" --for phase=Serving --for activeArchitecture=federated-learning
  node=$(aggregator_node)
  echo "== federated learning serves; its aggregator runs on node $node"
  echo "== watching $STRATEGY (fogstrat get as $STRATEGY -w):"
  "$BIN/fogstrat" get as "$STRATEGY" -w &
  watcher=$!
  trap 'kill $watcher 2>/dev/null || true' RETURN
  sleep 1
  echo "== fogsim node down $node"
  "$BIN/fogsim" node down "$node" >/dev/null
  "$BIN/fogstrat" wait as "$STRATEGY" --for activeRole=replacement --for phase=Serving --wait-timeout 240 >/dev/null
  echo "== gossip learning serves; fogsim node up $node (failback after the 30s stabilization window)"
  "$BIN/fogsim" node up "$node" >/dev/null
  "$BIN/fogstrat" wait as "$STRATEGY" --for activeRole=main --for phase=Serving --wait-timeout 360 >/dev/null
  sleep 1
  kill "$watcher" 2>/dev/null || true
  echo
  echo "== fogstrat describe as $STRATEGY"
  "$BIN/fogstrat" describe as "$STRATEGY"
  echo
  echo "== failover/failback counters"
  curl -sf "$FOGSTRAT_METRICS_URL/metrics" | grep -E '^fogstrat_(failovers|failbacks)_total' ||
    die "no failover/failback counters at $FOGSTRAT_METRICS_URL/metrics"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  demo-failover) demo_failover ;;
  *) echo "usage: $0 up|down|demo-failover" >&2; exit 2 ;;
esac
