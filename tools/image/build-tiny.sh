#!/bin/sh
# Builds the kvmstack tiny guest: a self-booting qcow2 (MBR + FAT16 + SYSLINUX + Debian cloud kernel +
# busybox initramfs running tools/image/guest-init), from Debian packages only: they are downloaded and
# unpacked with dpkg -x, never installed, and the disk is assembled without loop devices or mounts.
#   build-tiny.sh OUT.qcow2 [DEB_CACHE_DIR]      env: KERNEL_PKG (default: what linux-image-cloud-amd64 depends on)
# Also writes OUT's kernel and initramfs beside it (<name>.vmlinuz, <name>.initrd) for direct kernel boot.
# Needs: apt-get, dpkg, cpio, gzip, dosfstools, mtools, syslinux, fdisk (sfdisk), qemu-utils; root for mknod.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build-tiny.sh OUT.qcow2 [DEB_CACHE_DIR]}
CACHE=${2:-$(dirname "$OUT")/debs}
BASE=${OUT%.qcow2}
W=$(mktemp -d "${TMPDIR:-/tmp}/kvmstack-tiny.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$CACHE" "$(dirname "$OUT")"
step() { echo "==> $*"; }

# 1. packages (download only; kept in the cache between builds)
resolve_kernel() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KERNEL_PKG=${KERNEL_PKG:-$(resolve_kernel)}
if [ -z "$KERNEL_PKG" ]; then
  # A fresh machine may have no package lists yet.
  step "apt-get update (no package lists)"
  apt-get update -qq
  KERNEL_PKG=$(resolve_kernel)
fi
[ -n "$KERNEL_PKG" ] || { echo "cannot resolve linux-image-cloud-amd64 from Debian's package lists" >&2; exit 1; }
PKGS="$KERNEL_PKG busybox-static syslinux-common"
for p in $PKGS; do
  if ! ls "$CACHE/${p}_"*.deb >/dev/null 2>&1; then
    step "downloading $p"
    (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$p" >/dev/null)
  fi
done
step "unpacking $PKGS"
mkdir -p "$W/x"
for p in $PKGS; do dpkg -x "$(ls "$CACHE/${p}_"*.deb | tail -n 1)" "$W/x"; done
KVER=$(ls "$W/x/lib/modules")
MODDIR="$W/x/lib/modules/$KVER"

# 2. modules in dependency order, from each .ko's depends= (the .deb has no modules.dep; no kmod needed).
# virtio disk + net; IDE cdrom + iso9660 for the config drive; button + evdev for ACPI power-off.
WANT="virtio_pci virtio_net virtio_blk ata_piix sr_mod isofs button evdev"
ORDER=
ko() { find "$MODDIR" -name "$1.ko" | head -n 1; }
add() {
  case " $ORDER " in *" $1 "*) return ;; esac
  f=$(ko "$1")
  [ -n "$f" ] || { echo "module $1 not found (built in?)" >&2; return; }
  for d in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do add "$d"; done
  case " $ORDER " in *" $1 "*) ;; *) ORDER="$ORDER $1" ;; esac
}
for m in $WANT; do add "$m"; done

# 3. initramfs: static busybox + modules + /init
step "initramfs (kernel $KVER, modules:$ORDER)"
R="$W/root"
mkdir -p "$R/bin" "$R/dev" "$R/lib/modules"
cp "$W/x/bin/busybox" "$R/bin/busybox"
for m in $ORDER; do cp "$(ko "$m")" "$R/lib/modules/"; done
echo $ORDER >"$R/lib/modules/order"
cp "$HERE/guest-init" "$R/init"
chmod 755 "$R/init"
# the kernel opens /dev/console before /init runs; without the node the first messages are lost
if [ "$(id -u)" = 0 ]; then mknod -m 600 "$R/dev/console" c 5 1; fi
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) >"$W/initrd.img"

# 4. FAT16 partition with kernel, initramfs and SYSLINUX (installed unmounted, through mtools)
step "disk image"
cat >"$W/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0,115200 quiet panic=-1
EOF
PART_MB=40
truncate -s ${PART_MB}M "$W/part.img"
mkfs.vfat -F 16 -n KVMSTACK -i 6b766d73 -h 2048 "$W/part.img" >/dev/null # -h: hidden sectors = partition start
mcopy -i "$W/part.img" "$W/x/boot/vmlinuz-$KVER" ::vmlinuz
mcopy -i "$W/part.img" "$W/initrd.img" ::initrd.img
mcopy -i "$W/part.img" "$W/syslinux.cfg" ::syslinux.cfg
syslinux --install "$W/part.img"

# 5. whole disk: MBR partition table (start 2048, type 6 = FAT16, bootable) + SYSLINUX's mbr.bin
truncate -s $((PART_MB + 1))M "$W/disk.raw"
echo 'start=2048, type=6, bootable' | sfdisk -q "$W/disk.raw"
dd if="$W/part.img" of="$W/disk.raw" bs=1M seek=1 conv=notrunc status=none
dd if="$W/x/usr/lib/syslinux/mbr/mbr.bin" of="$W/disk.raw" bs=440 count=1 conv=notrunc status=none
qemu-img convert -c -O qcow2 "$W/disk.raw" "$W/tiny.qcow2"

# publish atomically: a half-written image must never look like a cached result
cp "$W/x/boot/vmlinuz-$KVER" "$BASE.vmlinuz.tmp" && mv "$BASE.vmlinuz.tmp" "$BASE.vmlinuz"
cp "$W/initrd.img" "$BASE.initrd.tmp" && mv "$BASE.initrd.tmp" "$BASE.initrd"
cp "$W/tiny.qcow2" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
step "$OUT: kernel $KVER, initramfs $(stat -c %s "$W/initrd.img") B, qcow2 $(stat -c %s "$OUT") B"
