#!/usr/bin/env bash
# The local stack behind `make run` / `make stop` / `make demo-failover`:
# etcd, fogsim (with the example nodes), the controller, and Prometheus when installed.
# Every process is started in the background with its pid and log under .run/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
BIN=.venv/bin
mkdir -p "$RUN"

ETCD_PORT=${FOGSTRAT_ETCD_PORT:-2379}
FOGSIM_ADDR=${FOGSIM_ADDR:-127.0.0.1:7070}
METRICS_ADDR=${FOGSTRAT_METRICS_ADDR:-127.0.0.1:9469}
PROM_ADDR=${FOGSTRAT_PROMETHEUS_ADDR:-127.0.0.1:9090}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

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
    if [ $SECONDS -ge $deadline ]; then echo "error: $what not ready after ${secs}s (see $RUN/*.log)" >&2; exit 1; fi
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
  rm -f "$RUN/$name.pid"
}

env_file() {
  cat >"$RUN/env" <<EOV
export FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_PORT
export FOGSIM_URL=http://$FOGSIM_ADDR
export PATH=$PWD/$BIN:\$PATH
EOV
}

up() {
  echo "starting the local fogstrat stack"
  if ! alive etcd && port_busy "$ETCD_PORT"; then
    echo "error: port $ETCD_PORT is taken (a system etcd?); set FOGSTRAT_ETCD_PORT to a free port" >&2; exit 1
  fi
  # fogsim's fog is new at every start, so the documents and status start afresh too.
  alive etcd || rm -rf "$RUN/etcd-data" "$RUN/prometheus-data"
  start etcd etcd --name fogstrat-local --data-dir "$RUN/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "fogstrat-local=http://127.0.0.1:$((ETCD_PORT + 1))" --logger zap --log-level warn
  wait_for etcd 20 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" endpoint health
  env_file
  export FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_PORT

  start fogsim "$BIN/fogsim" serve --nodes hack/fogsim/nodes.yaml --listen "$FOGSIM_ADDR"
  wait_for fogsim 20 curl -sf "http://$FOGSIM_ADDR/nodes/list"

  start controller "$BIN/fogstrat" controller --metrics-addr "$METRICS_ADDR" --log-format text
  wait_for controller 20 curl -sf "http://$METRICS_ADDR/healthz"

  if command -v prometheus >/dev/null 2>&1; then
    sed "s/__METRICS_ADDR__/$METRICS_ADDR/" deploy/prometheus/prometheus.local.yml >"$RUN/prometheus.yml"
    cp deploy/prometheus/rules.yaml "$RUN/rules.yaml"
    start prometheus prometheus --config.file "$RUN/prometheus.yml" --storage.tsdb.path "$RUN/prometheus-data" \
      --web.listen-address "$PROM_ADDR"
  fi

  echo "applying deploy/examples/"
  "$BIN/fogstrat" apply -f deploy/examples/
  echo "waiting for prediction-lab to serve (deploying real processes on fogsim)..."
  wait_for "prediction-lab Serving" 180 bash -c \
    "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"phase\": \"Serving\"'"
  echo
  "$BIN/fogstrat" get activestrategies
  cat <<MSG

fogstrat is running. Next:
  source $RUN/env                     # fogstrat/fogsim on PATH, pointed at this stack
  fogstrat describe as prediction-lab # status, conditions, history
  fogsim state | head                 # what the fog runs
  curl -s http://$METRICS_ADDR/metrics | grep ^fogstrat_
  make demo-failover                  # take the aggregator's node down and watch
  make stop                           # stop everything
MSG
  alive prometheus && echo "  Prometheus: http://$PROM_ADDR (rules loaded from deploy/prometheus/rules.yaml)"
  return 0
}

down() {
  echo "stopping the local fogstrat stack"
  for name in prometheus controller fogsim etcd; do stop_one "$name"; done
}

show() { "$BIN/fogstrat" get as prediction-lab; }

demo_failover() {
  # shellcheck disable=SC1091
  source "$RUN/env"
  local node watcher
  wait_for "federated learning serving" 180 bash -c \
    "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"activeArchitecture\": \"federated-learning\"'"
  node=$("$BIN/fogstrat" get as prediction-lab -o json |
    "$BIN/python" -c 'import json,sys; s=json.load(sys.stdin)["status"]; a=s["architectures"][s["activeArchitecture"]]; print(a["placement"]["aggregator"][0])')
  node=$("$BIN/fogsim" state | "$BIN/python" -c "import json,sys; print({n['uuid']: n['name'] for n in json.load(sys.stdin)['nodes']}.get('$node', '$node'))")
  echo "== federated learning serves; its aggregator runs on node $node"
  echo "== watching prediction-lab (fogstrat get as prediction-lab -w):"
  "$BIN/fogstrat" get as prediction-lab -w &
  watcher=$!
  trap 'kill $watcher 2>/dev/null || true' RETURN
  sleep 1
  echo "== fogsim node down $node"
  "$BIN/fogsim" node down "$node" >/dev/null
  wait_for "failover" 120 bash -c "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"activeRole\": \"replacement\"'"
  wait_for "replacement serving" 120 bash -c "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"phase\": \"Serving\"'"
  echo "== gossip learning serves; fogsim node up $node (failback after the 30s stabilization window)"
  "$BIN/fogsim" node up "$node" >/dev/null
  wait_for "failback" 240 bash -c "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"activeRole\": \"main\"'"
  wait_for "main serving" 120 bash -c "$BIN/fogstrat get as prediction-lab -o json | grep -q '\"phase\": \"Serving\"'"
  sleep 1
  kill "$watcher" 2>/dev/null || true
  echo
  echo "== fogstrat describe as prediction-lab"
  "$BIN/fogstrat" describe as prediction-lab
  echo
  echo "== failover/failback counters"
  curl -s "http://$METRICS_ADDR/metrics" | grep -E '^fogstrat_(failovers|failbacks)_total'
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  demo-failover) demo_failover ;;
  *) echo "usage: $0 up|down|demo-failover" >&2; exit 2 ;;
esac
