#!/usr/bin/env bash
# Installs (as root) or checks (otherwise) the Debian packages the test suite runs for real:
#   python3-winrm           an independent WinRM client that checks exchsim (winrm-protocol.md §4)
#   prometheus              promtool (rule unit tests, metric lint) and the server for the end-to-end test
#   prometheus-alertmanager the Alertmanager the end-to-end test sends alerts to and creates silences in
#   krb5-kdc, krb5-admin-server  a real MIT KDC (krb5kdc, kdb5_util, kadmin.local) for the Kerberos tests
#   krb5-user, python3-requests-kerberos  kinit and python3-winrm's kerberos transport, to check exchsim's
#                           Kerberos acceptor with a client nobody here wrote
#   python3-gssapi          MIT krb5's GSSAPI from Python: seals and opens WinRM messages (gss_wrap_iov) to
#                           check exmaintd's and exchsim's Kerberos message encryption both ways
#   etcd-server             a real etcd cluster (3 members on loopback) for the etcd journal store, its
#                           fencing, and the high-availability tests (docs/ha.md)
#   nodejs, npm             (only when npm is missing) for tsc and @grafana/schema, pinned in
#                           monitoring/schema/package-lock.json: the dashboard is type-checked against
#                           Grafana's published schema
# Services are not started: a policy-rc.d refuses it, the tests start their own on loopback.
set -euo pipefail
pkgs=(python3-winrm prometheus prometheus-alertmanager etcd-server krb5-kdc krb5-admin-server krb5-user python3-requests-kerberos python3-gssapi)
command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The npm packages of the dashboard's schema check, exactly as locked (npm ci), when not installed yet.
npm_deps() {
  local dir=monitoring/schema
  if [ ! -x "$dir/node_modules/.bin/tsc" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "installing $dir's npm packages (npm ci)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
}
apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
  fi
  trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
[ ${#missing[@]} -eq 0 ] || apt_install
npm_deps
