#!/usr/bin/env bash
# Builds vcsim, VMware's vSphere API simulator, for the vSphere connector tests
# (test/connectors/vsphere.test.ts): test/vcsim/main.go (a minimal main around govmomi's `simulator`
# package, VPX model) → test/vcsim/vcsim. Debian 12 ships govmomi 0.24.2 as Go sources
# (golang-github-vmware-govmomi-dev) but not its vcsim command; the simulator's only import outside the
# standard library and govmomi is github.com/google/uuid (golang-github-google-uuid-dev, a dependency).
# Built GOPATH-style (GO111MODULE=off) from /usr/share/gocode: no network access besides apt.
# Run as root when packages are missing; idempotent; quiet unless it fails; a no-op when the binary is
# newer than main.go and this script.
set -euo pipefail
cd "$(dirname "$0")/.."

src=test/vcsim/main.go
bin=test/vcsim/vcsim
govmomi=/usr/share/gocode/src/github.com/vmware/govmomi/simulator
uuid=/usr/share/gocode/src/github.com/google/uuid

if [[ -x $bin && $bin -nt $src && $bin -nt .ci/build-vcsim.sh ]]; then
  exit 0
fi

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[[ -d $govmomi ]] || need+=(golang-github-vmware-govmomi-dev)
[[ -d $uuid ]] || need+=(golang-github-google-uuid-dev)
if [[ ${#need[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "build-vcsim.sh: missing ${need[*]}; run as root (or apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  if ! apt_install 2>/dev/null; then
    apt-get update -qq >/dev/null
    apt_install
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/cache" GOFLAGS= CGO_ENABLED=0
(cd test/vcsim && go build -trimpath -o "$work/vcsim" .)
mv "$work/vcsim" "$bin"
"$bin" -h >/dev/null 2>&1 || [[ $? -eq 2 ]] # flag's usage exit code: the binary runs
