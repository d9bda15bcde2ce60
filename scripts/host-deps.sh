#!/usr/bin/env bash
# Installs the Debian packages that Ambit's tests and benchmarks use. As root it installs
# what is missing; otherwise it lists what is missing and how to install it.
set -euo pipefail

packages=(iptables iproute2 containernetworking-plugins tcpdump haproxy nginx wrk nghttp2-client iperf3 openssl curl procps util-linux strace chromium prometheus wabt)

# command (or file) that shows each package is present
probe() {
  case "$1" in
    containernetworking-plugins) [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ;;
    iproute2) command -v ip >/dev/null ;;
    nghttp2-client) command -v h2load >/dev/null ;;
    procps) command -v ps >/dev/null ;;
    util-linux) command -v unshare >/dev/null ;;
    prometheus) command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] ;;
    wabt) command -v wat2wasm >/dev/null ;;
    *) command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] ;;
  esac
}

missing=()
for p in "${packages[@]}"; do probe "$p" || missing+=("$p"); done

if [ ${#missing[@]} -eq 0 ]; then
  echo "host-deps: all present (${packages[*]})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "host-deps: missing: ${missing[*]}" >&2
  echo "host-deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "host-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian nginx, haproxy and prometheus packages start services; tests and benchmarks start their own.
for svc in nginx haproxy prometheus; do
  if command -v service >/dev/null; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "host-deps: done"
