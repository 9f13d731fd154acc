#!/usr/bin/env bash
# Prepares a Debian 12 machine for the libvirt polkit oracle test
# (test/backends/libvirt/polkit-oracle.test.ts). Run as root; idempotent; quiet unless it fails.
#  - polkitd (polkitd, pkcheck), dbus-daemon, util-linux (unshare, setpriv)
#  - libvirt's action files from libvirt-daemon-system, unpacked without installing the package,
#    so no libvirtd is needed or started
#  - test users and groups (accord-*)
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-polkit.sh: must run as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
ACTIONS=/usr/share/polkit-1/actions
need=()
[[ -x /usr/lib/polkit-1/polkitd && -x /usr/bin/pkcheck ]] || need+=(polkitd)
[[ -x /usr/bin/dbus-daemon ]] || need+=(dbus-daemon)
[[ -x /usr/bin/setpriv && -x /usr/bin/unshare ]] || need+=(util-linux)
updated=0
apt_update() {
  if [[ $updated -eq 0 ]]; then
    apt-get update -qq >/dev/null
    updated=1
  fi
}
if [[ ${#need[@]} -gt 0 ]]; then
  apt_update
  # polkitd's postinst may try to start the service: keep every service down while installing.
  policy_rc=/usr/sbin/policy-rc.d
  had_policy_rc=0
  [[ -e $policy_rc ]] && had_policy_rc=1
  if [[ $had_policy_rc -eq 0 ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod +x "$policy_rc"
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [[ $had_policy_rc -eq 0 ]]; then rm -f "$policy_rc"; fi
fi

if [[ ! -s $ACTIONS/org.libvirt.api.policy ]]; then
  apt_update
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work" # apt-get download runs as _apt
  (cd "$work" && apt-get download -qq libvirt-daemon-system >/dev/null 2>&1)
  deb=$(ls "$work"/libvirt-daemon-system_*.deb)
  dpkg-deb -x "$deb" "$work/x"
  install -d -m 755 "$ACTIONS"
  install -m 644 "$work/x$ACTIONS/org.libvirt.api.policy" "$ACTIONS/org.libvirt.api.policy"
  if [[ -f "$work/x$ACTIONS/org.libvirt.unix.policy" && ! -e $ACTIONS/org.libvirt.unix.policy ]]; then
    install -m 644 "$work/x$ACTIONS/org.libvirt.unix.policy" "$ACTIONS/org.libvirt.unix.policy"
  fi
fi
grep -q 'org.libvirt.api.domain.start' "$ACTIONS/org.libvirt.api.policy"

for g in accord-ops accord-dev; do
  getent group "$g" >/dev/null || groupadd "$g"
done
add_user() { # name, supplementary groups (comma-separated, may be empty)
  getent passwd "$1" >/dev/null || useradd --no-create-home --user-group --shell /usr/sbin/nologin "$1"
  if [[ -n $2 ]]; then usermod -a -G "$2" "$1"; fi
}
add_user accord-alice accord-ops
add_user accord-bob accord-ops,accord-dev
add_user accord-carol accord-dev
add_user accord-dave ""
