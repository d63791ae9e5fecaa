#!/usr/bin/env bash
# Installs the system packages the dev/test mail stack needs (Dovecot, Chromium, Redis) and the `vmail` user
# Dovecot delivers mail as. Idempotent: when everything is present it changes nothing and exits 0 quickly.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in dovecot-imapd dovecot-pop3d chromium; do
  have_pkg "$pkg" || missing+=("$pkg")
done
# Any redis-server binary will do (a distro package, a source build, a CI service image...).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-system-deps: installing ${missing[*]}"
  # Keep the packages' own services from starting: the dev stack runs private instances on free ports.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  trap 'if [ "$policy_created" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi' EXIT
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The distro's dovecot service is never used; stop/disable it if systemd runs it (harmless when absent).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now dovecot.service >/dev/null 2>&1 || true
fi

# Dovecot refuses to deliver mail as root; the dev stack stores mail as `vmail` (uid/gid 5000 when free).
if ! getent group vmail >/dev/null; then
  if getent group 5000 >/dev/null; then $SUDO groupadd --system vmail; else $SUDO groupadd --system --gid 5000 vmail; fi
fi
if ! getent passwd vmail >/dev/null; then
  uid_opt=(--uid 5000)
  getent passwd 5000 >/dev/null && uid_opt=()
  $SUDO useradd --system "${uid_opt[@]}" --gid vmail --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin vmail
fi
echo "install-system-deps: ok"
