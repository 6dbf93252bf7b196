#!/usr/bin/env bash
# Installs the Debian packages kvmstack needs, only those missing (apt-get update runs only if something is).
#   tools/install-deps.sh aio    what the all-in-one cloud needs, plus the openstack CLI to use it
#   tools/install-deps.sh test   everything the test suite needs (MariaDB, the real clients, Tempest)
set -euo pipefail
profile=${1:-aio}

# libvirt-dev and a compiler: npm ci builds the libvirt binding (@unraid/libvirt) from source.
build_packages=(libvirt-dev g++ make python3 pkg-config)
# A KVM host: libvirt, QEMU, and the tools the agent runs.
host_packages=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils genisoimage iproute2 util-linux
  dnsmasq-base)
# The tiny guest image builder and the multi-host lab (GlusterFS shared storage).
lab_packages=(dosfstools mtools syslinux syslinux-common fdisk cpio glusterfs-server glusterfs-client
  dnsmasq-base nftables bridge-utils arping iputils-ping curl busybox-static)
# The API itself: openssl makes x509 key pairs (as Nova does).
api_packages=(openssl ca-certificates sqlite3)
aio_packages=(python3-openstackclient "${api_packages[@]}" "${build_packages[@]}" "${host_packages[@]}")
test_packages=(mariadb-server mariadb-client python3-openstackclient python3-novaclient python3-openstacksdk
  python3-keystoneclient python3-glanceclient python3-neutronclient tempest python3-subunit "${api_packages[@]}"
  "${build_packages[@]}" "${host_packages[@]}"
  "${lab_packages[@]}")

case "$profile" in
  aio) wanted=("${aio_packages[@]}") ;;
  test) wanted=("${test_packages[@]}") ;;
  *) echo "usage: $0 aio|test" >&2; exit 2 ;;
esac

if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "kvmstack needs Node.js 20 or newer (found: $(node -v 2>/dev/null || echo none))." >&2
  exit 1
fi

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "==> Debian packages for '$profile' already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]} — run as root (or install them) first." >&2
  exit 1
fi
echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> installed ${#missing[@]} package(s)"
