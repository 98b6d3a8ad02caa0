#!/usr/bin/env bash
# End-to-end on a kind cluster, for users with Docker (kind needs a Docker engine; the CI
# machines have none, so CI validates these manifests offline in tests/unit/test_manifests.py).
#
#   hack/kind-e2e.sh            create cluster, build+load image, apply, run the scenario
#   KEEP=1 hack/kind-e2e.sh     leave the cluster running afterwards
#
# Scenario: deploy/kubernetes (CRDs, etcd, controller) in a one-node cluster; fogsim runs
# in the cluster too (same image, entrypoint fogsim). fogsim binds the fog's entities to
# loopback addresses (127.0.10.N) that only its own network namespace reaches, so for this
# test fogsim and the controller share the node's network (hostNetwork, via an overlay in
# .run/kind/ that also relaxes the namespace's pod-security level and runs one controller
# replica: two would both bind :9469 on the one node). The examples are applied with the
# fogstrat CLI through a port-forward to etcd; the ActiveStrategy must reach Serving; then
# the leader pod is deleted and its replacement must take the lease and keep it Serving.
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

log "applying deploy/kubernetes (+ kind overlay)"
mkdir -p .run/kind
cat > .run/kind/kustomization.yaml <<'YAML'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../deploy/kubernetes
patches:
  - target: {kind: Namespace, name: fogstrat-system}
    patch: |
      - op: replace
        path: /metadata/labels/pod-security.kubernetes.io~1enforce
        value: privileged
  - target: {kind: Deployment, name: fogstrat-controller}
    patch: |
      - op: replace
        path: /spec/replicas
        value: 1
      - op: add
        path: /spec/template/spec/hostNetwork
        value: true
      - op: add
        path: /spec/template/spec/dnsPolicy
        value: ClusterFirstWithHostNet
YAML
kubectl apply -k .run/kind/
kubectl wait --for condition=Established crd --all --timeout=60s
kubectl -n "$NS" rollout status statefulset/etcd --timeout=180s

# fogsim on the node's network at 127.0.0.1:7070 (the FOGSIM_URL deploy/examples get below).
kubectl -n "$NS" create configmap fogsim-nodes --from-file=nodes.yaml=hack/fogsim/nodes.yaml \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: fogsim
  labels: {app.kubernetes.io/name: fogsim}
spec:
  hostNetwork: true
  containers:
    - name: fogsim
      image: localhost/fogstrat:dev
      imagePullPolicy: IfNotPresent
      command: [fogsim, serve, --nodes, /nodes/nodes.yaml, --listen, "127.0.0.1:7070"]
      ports: [{name: http, containerPort: 7070}]
      volumeMounts: [{name: nodes, mountPath: /nodes}]
  volumes:
    - name: nodes
      configMap: {name: fogsim-nodes}
YAML
kubectl -n "$NS" wait --for condition=Ready pod/fogsim --timeout=120s
kubectl -n "$NS" rollout status deployment/fogstrat-controller --timeout=180s

log "port-forwarding etcd to 127.0.0.1:$ETCD_LOCAL_PORT"
kubectl -n "$NS" port-forward svc/etcd-client "$ETCD_LOCAL_PORT:2379" >/dev/null 2>&1 &
PF_PID=$!
sleep 3
export FOGSTRAT_ETCD_ENDPOINTS=127.0.0.1:$ETCD_LOCAL_PORT
export FOGSTRAT_PREFIX=/fogstrat

log "applying deploy/examples"
FOGSIM_URL=http://127.0.0.1:7070 "$BIN/fogstrat" apply --env-subst -f deploy/examples/

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
for _ in $(seq 1 30); do [ "$(phase)" = Serving ] && break; sleep 2; done
[ "$(phase)" = Serving ] || { echo "prediction-lab not Serving after the leader change" >&2; exit 1; }
