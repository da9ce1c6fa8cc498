#!/usr/bin/env bash
# Installs, on a fresh Debian machine, everything Sluice's tests and demo need, and does nothing
# for what is already there:
#   - Debian packages: git, the OCI registry, Prometheus, skopeo, nginx + fcgiwrap (Git smart
#     HTTP), apache2-utils (htpasswd);
#   - the real Go components, built from pinned Go modules into $SLUICE_CACHE (default .cache/):
#     kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, kustomize, Gitea.
# Rust (cargo) and Go must be on the machine already.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(git docker-registry prometheus skopeo nginx-light fcgiwrap apache2-utils openssh-server gnupg)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust with rustup" >&2; exit 1; }
command -v go >/dev/null || { echo "setup: go (1.26 or newer) is missing" >&2; exit 1; }
tests/go/build.sh kubernetes etcd kwok kustomize gitea
