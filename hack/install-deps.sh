#!/usr/bin/env bash
# Install the system packages fogstrat's run and test targets need, only when missing.
# Debian/Ubuntu only; runs apt as root or through sudo.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # TLS test certificates
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# The console dashboard's test renders it in a real headless browser.
if [ "${FOGSTRAT_WITH_BROWSER:-1}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
if [ "${FOGSTRAT_WITH_KUBECTL:-1}" = 1 ] && ! command -v kubectl >/dev/null 2>&1; then
  apt-cache show kubectl >/dev/null 2>&1 && need+=(kubectl) || true
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2068
$sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' ${need[@]} | sort -u) >/dev/null
# The Debian package may start a system etcd on :2379; fogstrat never relies on it.
