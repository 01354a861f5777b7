#!/usr/bin/env bash
# Installs the Debian packages hakmem needs to build, test and benchmark (Debian 12, as root).
# Skips apt entirely when everything is already there, so it also works offline.
set -euo pipefail
PKGS=(build-essential cmake pkg-config liburcu-dev libck-dev clang libclang-rt-14-dev valgrind
      strace time gnuplot-nox libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 python3 git
      perl gawk dpkg-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
