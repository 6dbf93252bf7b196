#!/bin/sh
# The anchor of one lab host: run as `ip netns exec ks-hN unshare -m -u --propagation private sh host-ns.sh DIR NAME`.
# Inside the host's own mount and UTS namespaces it binds the host's private libvirt directories (and hosts
# file, and /dev/kvm node) over the system's, writes its pid file and then sleeps: it holds the namespaces
# that the host's daemons are started into (nsenter -t PID -m -n -u).
set -eu
dir=$1
name=$2
hostname "$name"
# a private /run gives the mount point /run/libvirt without creating it in the root fs, where removing it
# later would silently detach every other namespace's mount on it
mount -t tmpfs -o mode=0755 ks-run /run
mkdir -p /run/libvirt /run/lock
mount --bind "$dir/etc" /etc/libvirt
mount --bind "$dir/run" /run/libvirt
mount --bind "$dir/lib" /var/lib/libvirt
mount --bind "$dir/log" /var/log/libvirt
mount --bind "$dir/cache" /var/cache/libvirt
mount --bind "$dir/hosts" /etc/hosts
# /dev/kvm is root:root 0600 on the lab machine: libvirt (QEMU as libvirt-qemu) then re-probes QEMU on every
# call (40 s per domain start). A private root:kvm 0660 node, in this namespace only.
if [ -c "$dir/dev-kvm" ]; then mount --bind "$dir/dev-kvm" /dev/kvm; fi
echo $$ >"$dir/anchor.pid.tmp"
mv "$dir/anchor.pid.tmp" "$dir/anchor.pid"
exec sleep infinity
