#!/usr/bin/env bash
# `make image`: build the controller image with podman or docker, whichever exists.
# No image registry may be reachable: set BASE to a local image (see hack/e2e-container.sh,
# which builds one from a Debian rootfs) or let the default python:3.11-slim be pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/fogstrat:dev}
BASE=${BASE:-}
engine=$(command -v podman || command -v docker || true)
if [ -z "$engine" ]; then
  echo "error: neither podman nor docker is installed (apt-get install podman)" >&2
  exit 1
fi
args=(build -f deploy/Dockerfile -t "$IMAGE")
[ -n "$BASE" ] && args+=(--build-arg "BASE=$BASE")
[ "$(basename "$engine")" = podman ] && args+=(--isolation chroot)
echo "building $IMAGE with $(basename "$engine")${BASE:+ from $BASE}"
"$engine" "${args[@]}" .
echo "built $IMAGE"
