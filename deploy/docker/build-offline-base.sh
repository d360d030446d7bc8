#!/usr/bin/env bash
# Builds a Debian bookworm base image without any image registry: debootstrap a minimal root
# file system from the host's Debian mirror and `docker import` it. The host's CA bundle goes
# in too, so builds behind a TLS-inspecting proxy still reach the package registries.
#
#   deploy/docker/build-offline-base.sh [TAG]        (default tag: local/debian:bookworm)
#
# Then: docker build --network host --build-arg BASE_IMAGE=local/debian:bookworm -f deploy/Dockerfile .
set -euo pipefail
TAG=${1:-local/debian:bookworm}
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG already present"
  exit 0
fi
MIRROR=${DEBIAN_MIRROR:-$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -oE 'https?://[^ ]*debian/?' | grep -v security | head -n1 || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d /tmp/knowrithm-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; exit 1; }
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  # update-ca-certificates (run when the image installs ca-certificates) keeps local certs.
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates" "$ROOTFS/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/usr/local/share/ca-certificates/host-bundle.crt"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import - "$TAG" >/dev/null
echo "built $TAG"
