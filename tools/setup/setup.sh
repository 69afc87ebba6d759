#!/usr/bin/env bash
# Installs what this repository needs on a Debian 12 machine that has Node.js, and only what is
# missing: the Debian tools (one apt-get, for commands that are not found), pnpm 10, the node
# modules and the built workspace packages. Run again with nothing missing, it touches neither
# apt nor the network and takes about a second. Progress goes to stderr.
#
#   tools/setup/setup.sh build   what `bakehouse build` and `bakehouse doctor` need (the ./bakehouse launcher)
#   tools/setup/setup.sh all     that, plus what the tests need (.ci/run)
set -euo pipefail

usage() { echo "usage: $0 build|all" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
case $1 in build | all) scope=$1 ;; *) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export DEBIAN_FRONTEND=noninteractive TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1

say() { echo "setup: $*" >&2; }
die() { echo "setup: $*" >&2; exit 1; }

# The one list of Debian tools: command → Debian package providing it.
# What the builder shells out to (packages/builder/src/tools.ts, which `bakehouse doctor` checks;
# tools/repo-checks keeps the two in step), mmdebstrap for the roots of signed DDIs and boot tests, and git.
declare -A build_tools=(
  [mksquashfs]=squashfs-tools [unsquashfs]=squashfs-tools
  [mkfs.erofs]=erofs-utils [fsck.erofs]=erofs-utils
  [xz]=xz-utils [zstd]=zstd
  [systemd-sysext]=systemd [systemd-analyze]=systemd
  [setpriv]=util-linux [unshare]=util-linux
  [veritysetup]=cryptsetup-bin [openssl]=openssl
  [apt-get]=apt [dpkg-deb]=dpkg [patchelf]=patchelf
  [mmdebstrap]=mmdebstrap [git]=git
)
# What the tests add: boot tests (nspawn and VM), registries, signing, the catalog's browser checks, arm64 under emulation,
# and go, which builds the SPDX validator (SPDX's Go library from Debian) that checks SBOMs.
declare -A test_tools=(
  [systemd-nspawn]=systemd-container
  [docker-registry]=docker-registry [skopeo]=skopeo
  [gpg]=gnupg [ignition-validate]=ignition [chromium]=chromium
  [protoc]=protobuf-compiler [bzip2]=bzip2
  [busybox]=busybox-static [qemu-aarch64-static]=qemu-user-static
  [debugfs]=e2fsprogs [mkfs.btrfs]=btrfs-progs [sgdisk]=gdisk [qemu-img]=qemu-utils
  [qemu-system-x86_64]=qemu-system-x86 [mke2fs]=e2fsprogs [dumpe2fs]=e2fsprogs
  [qemu-system-aarch64]=qemu-system-arm [arch-test]=arch-test
  [wat2wasm]=wabt  # rebuilds wasmtime's smoke-check module from its .wat
  [go]=golang-go
)

# As root, or through sudo.
as_root() {
  if ((EUID == 0)); then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "installing needs root: run as root, or install sudo (wanted to run: $*)"
  fi
}

# Node.js itself is the one prerequisite (package.json "engines").
if ! command -v node >/dev/null || ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  die "Node.js 20.19 or newer is needed (found: $(node --version 2>/dev/null || echo none)); Debian 12's own nodejs is 18: install Node 20 from nodejs.org or NodeSource, then run this again"
fi

# Debian tools. Commands in /usr/sbin count even when a user's PATH lacks it.
missing=()
check() { local -n map=$1; for cmd in "${!map[@]}"; do PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null || missing+=("${map[$cmd]}"); done; }
check build_tools
[[ $scope == all ]] && check test_tools
if ((${#missing[@]})); then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  say "installing Debian packages: $packages"
  as_root apt-get update -q
  # shellcheck disable=SC2086 # one word per package
  as_root apt-get install -y -q --no-install-recommends $packages
fi

# pnpm 10 (the version package.json's "packageManager" names).
pnpm_major=$( (pnpm --version 2>/dev/null || echo 0) | cut -d. -f1)
if ((pnpm_major < 10)); then
  say "installing pnpm 10 (npm install -g pnpm@10)"
  if [[ -w "$(npm prefix -g)" ]]; then npm install -g pnpm@10; else as_root npm install -g pnpm@10; fi
fi

# Node modules: pnpm keeps a copy of the lock it installed from; the same lock means nothing to do.
# `pnpm install` also builds the workspace packages (the root "prepare" script). The stamp of the
# last build gets the time the build started, so a source edited during it still counts as newer.
built=node_modules/.bakehouse-setup-built
started=$(mktemp)
trap 'rm -f "$started"' EXIT
if ! cmp -s pnpm-lock.yaml node_modules/.pnpm/lock.yaml; then
  say "installing node modules (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile >&2
  touch -r "$started" "$built"
fi

# The CLI, rebuilt when one of the packages' sources or build settings is newer than the last
# build (through Turbo: a cache hit unless what changed matters to it). Build outputs (dist/, the
# generated JSON schema) are not sources.
sources_changed() {
  [[ ! -e $built ]] && return 0
  [[ -n $(find packages tsconfig.base.json turbo.json package.json \( -name node_modules -o -name dist -o -name .turbo \) -prune -o \
    -type f \( -path 'packages/*/src/*' -o -path 'packages/*/scripts/*' -o -name 'package.json' -o -name 'tsconfig*.json' -o -name 'turbo.json' \) \
    -newer "$built" -print -quit) ]]
}
if sources_changed; then
  say "building the bakehouse CLI (turbo run build --filter=@bakehouse/cli...)"
  touch "$started"
  pnpm exec turbo run build --filter=@bakehouse/cli... --output-logs=errors-only >&2
  touch -r "$started" "$built"
fi
