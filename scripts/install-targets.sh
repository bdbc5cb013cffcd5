#!/usr/bin/env bash
# Installs the Debian packages impress's managed targets (src/target/) and its tests need,
# idempotently: only what is missing, `apt-get update` only if something is missing, and
# never a system instance started on the default ports (policy-rc.d guard, see targets.md §1).
#
# Usage: scripts/install-targets.sh        (as root, or via sudo; a no-op when all present)
# Prints one line per package: "<package>: present" or "<package>: installed".
set -euo pipefail

# One package per line; add a target's packages here (e.g. kamailio, sip-tester).
PACKAGES=(
  prosody    # managed target `prosody` (Prosody 0.12)
  ejabberd   # managed target `ejabberd` (ejabberd 23.01; pulls erlang-base: erl, epmd)
  kamailio                   # managed target `kamailio` (Kamailio 5.6: core, tm, registrar, usrloc, auth)
  kamailio-presence-modules  # presence, presence_xml (SUBSCRIBE/NOTIFY/PUBLISH)
  kamailio-sqlite-modules    # db_sqlite: subscriber (auth_db) and presence tables
  kamailio-tls-modules       # tls: the SIP TLS listener
  sqlite3                    # creates the managed Kamailio's database and provisions its accounts
  chromium   # headless browser the report.html test renders the page with (tests/it/html.rs)
)

POLICY=/usr/sbin/policy-rc.d
# Default ports a wrongly auto-started system instance would occupy.
DEFAULT_PORTS=(5222 5269 5280 5060 4369)

die() { echo "install-targets: error: $*" >&2; exit 1; }

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian/Ubuntu only"

missing=()
for pkg in "${PACKAGES[@]}"; do
  if is_installed "$pkg"; then
    echo "$pkg: present"
  else
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}) and not root: rerun with sudo"

# Packages' postinst scripts would start system services on the default ports. A
# policy-rc.d that exits 101 forbids that; create one only if the machine has none.
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# created by impress scripts/install-targets.sh: no services at install\nexit 101\n' >"$POLICY"
  chmod +x "$POLICY"
  echo "created $POLICY (exit 101) so the packages do not start system services"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed (network or sources.list?)"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || die "apt-get install ${missing[*]} failed"

for pkg in "${missing[@]}"; do
  is_installed "$pkg" || die "$pkg is still not installed after apt-get install"
  echo "$pkg: installed"
done

# A system instance on a default port would not break impress (it uses free ports and checks
# the PID that owns its socket) but shows the policy-rc.d guard did not work: say so.
if command -v ss >/dev/null 2>&1; then
  for port in "${DEFAULT_PORTS[@]}"; do
    if ss -ltnH "sport = :$port" | grep -q .; then
      echo "install-targets: warning: something listens on port $port after install" >&2
    fi
  done
fi
