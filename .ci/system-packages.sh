#!/usr/bin/env bash
# Installs the Debian packages the tests drive: real registry clients (skopeo, podman, buildah, the
# Docker engine: docker.io gives dockerd and docker), a second independent registry (docker-registry =
# distribution 2.8), curl, wrk and nginx-light (the practical limit for pulls) for benchmarks,
# chromium for the HTML pages. Does nothing when everything is already there; needs root otherwise.
set -euo pipefail
packages=(skopeo podman buildah crun docker-registry docker.io curl wrk nginx-light chromium)
commands=(skopeo podman buildah crun docker-registry dockerd curl wrk nginx chromium)
missing=()
for i in "${!commands[@]}"; do
  command -v "${commands[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-packages: missing ${missing[*]}; run as root (or install them) so the client tests run" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Packages with a service (nginx) must not start it: the benchmark runs its own on a free port.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
