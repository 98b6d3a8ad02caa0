#!/usr/bin/env bash
# End-to-end on a kind cluster, for users with Docker (kind needs a Docker engine; the CI
# machines have none, so CI validates these manifests offline in tests/unit/test_manifests.py).
#
#   hack/kind-e2e.sh            create cluster, build+load image, apply, run the scenario
#   KEEP=1 hack/kind-e2e.sh     leave the cluster running afterwards
#
# Scenario: deploy/kubernetes (CRDs, etcd, 2 controller replicas) in the cluster; fogsim
# runs in the cluster too (same image, entrypoint fogsim); the examples are applied with the
# fogstrat CLI through a port-forward to etcd; the ActiveStrategy must reach Serving; one
# controller is the leader; deleting the leader pod hands leadership to the other replica.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-fogstrat-e2e}
IMAGE=localhost/fogstrat:dev            # the name deploy/kubernetes/base uses
NS=fogstrat-system
ETCD_LOCAL_PORT=${ETCD_LOCAL_PORT:-32379}
BIN=${BIN:-.venv/bin}

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "kind-e2e: $tool is required" >&2; exit 1; }
done
[ -x "$BIN/fogstrat" ] || { echo "kind-e2e: $BIN/fogstrat missing: run make venv" >&2; exit 1; }

log() { echo "== $*" >&2; }
PF_PID=""
cleanup() {
  local rc=$?
  [ -n "$PF_PID" ] && kill "$PF_PID" 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    kubectl -n "$NS" get pods -o wide >&2 || true
    kubectl -n "$NS" logs -l app.kubernetes.io/component=controller --tail=50 --prefix >&2 || true
  fi
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
  [ $rc -eq 0 ] && log PASS || log FAIL
}
trap cleanup EXIT

log "building $IMAGE"
docker build -f deploy/Dockerfile -t "$IMAGE" .

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null
kind load docker-image --name "$CLUSTER" "$IMAGE"

log "applying deploy/kubernetes"
kubectl apply -k deploy/kubernetes/
kubectl wait --for condition=Established crd --all --timeout=60s
kubectl -n "$NS" rollout status statefulset/etcd --timeout=180s

# fogsim in the cluster, reachable as fogsim.fogstrat-system:7070; the example Environment
# is rewritten to point at it.
kubectl -n "$NS" apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: fogsim
  labels: {app.kubernetes.io/name: fogsim}
spec:
  containers:
    - name: fogsim
      image: localhost/fogstrat:dev
      imagePullPolicy: IfNotPresent
      command: [fogsim, serve, --nodes, /nodes/nodes.yaml, --listen, "0.0.0.0:7070"]
      ports: [{name: http, containerPort: 7070}]
      volumeMounts: [{name: nodes, mountPath: /nodes}]
  volumes:
    - name: nodes
      configMap: {name: fogsim-nodes}
---
apiVersion: v1
kind: Service
metadata: {name: fogsim}
spec:
  selector: {app.kubernetes.io/name: fogsim}
  ports: [{name: http, port: 7070, targetPort: http}]
YAML
kubectl -n "$NS" create configmap fogsim-nodes --from-file=nodes.yaml=hack/fogsim/nodes.yaml \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" wait --for condition=Ready pod/fogsim --timeout=120s
kubectl -n "$NS" rollout status deployment/fogstrat-controller --timeout=180s

log "port-forwarding etcd to 127.0.0.1:$ETCD_LOCAL_PORT"
kubectl -n "$NS" port-forward svc/etcd-client "$ETCD_LOCAL_PORT:2379" >/dev/null 2>&1 &
PF_PID=$!
sleep 3
export FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_LOCAL_PORT
export FOGSTRAT_PREFIX=/fogstrat

log "applying deploy/examples (Environment pointed at the in-cluster fogsim)"
tmp=$(mktemp -d)
cp deploy/examples/* "$tmp/"
sed -i "s#http://127.0.0.1:7070#http://fogsim.$NS.svc:7070#" "$tmp"/*
"$BIN/fogstrat" apply -f "$tmp"
rm -rf "$tmp"

phase() {
  "$BIN/fogstrat" get activestrategy prediction-lab -o json |
    "$BIN/python" -c 'import json,sys; d=json.load(sys.stdin); print((d.get("status") or {}).get("phase",""))'
}
log "waiting for prediction-lab to reach Serving"
for _ in $(seq 1 120); do [ "$(phase)" = Serving ] && break; sleep 2; done
[ "$(phase)" = Serving ] || { echo "prediction-lab did not reach Serving: $(phase)" >&2; exit 1; }
"$BIN/fogstrat" get activestrategies

leader_pod() {
  for pod in $(kubectl -n "$NS" get pods -l app.kubernetes.io/component=controller -o name); do
    if kubectl -n "$NS" exec "$pod" -- python3 -c \
      "import urllib.request,sys; b=urllib.request.urlopen('http://127.0.0.1:9469/metrics').read().decode(); sys.exit(0 if '\nfogstrat_leader 1.0' in b else 1)" 2>/dev/null; then
      echo "${pod#pod/}"; return 0
    fi
  done
  return 1
}
leader=$(leader_pod) || { echo "no controller reports fogstrat_leader 1" >&2; exit 1; }
log "leader is $leader; deleting it"
kubectl -n "$NS" delete pod "$leader" --wait=false
for _ in $(seq 1 60); do
  new=$(leader_pod || true)
  [ -n "$new" ] && [ "$new" != "$leader" ] && break
  sleep 2
done
[ -n "${new:-}" ] && [ "$new" != "$leader" ] || { echo "no new leader after deleting $leader" >&2; exit 1; }
log "new leader $new"
[ "$(phase)" = Serving ] || { echo "prediction-lab left Serving after the leader change" >&2; exit 1; }
