#!/usr/bin/env bash
# Builds switchyard_<version>_<arch>.deb: the binary, the systemd units (paths rewritten for /usr/bin and
# /etc/switchyard), a sysusers.d and a tmpfiles.d entry, the example configuration as conffiles under
# /etc/switchyard, and maintainer scripts that create the user and start, enable or stop nothing.
#
#   scripts/build-deb.sh [--binary PATH] [--version V] [--out DIR] [--compression xz|gzip] [--level N]
#
# `make deb` runs it on the static release binary. Its dependencies are what the binary links, as
# dpkg-shlibdeps computes them. Needs dpkg-dev and fakeroot (scripts/install-deps.sh test installs them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$root/.build/release/switchyard"
version="$(cat "$root/VERSION")"
out="$root/.build"
compression=xz
level=6
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --compression) compression="$2"; shift 2 ;;
        --level) level="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--version V] [--out DIR] [--compression xz|gzip] [--level N]" >&2; exit 2 ;;
    esac
done
[ -x "$binary" ] || { echo "$0: no binary at $binary (make release builds it)" >&2; exit 2; }
for tool in dpkg-deb dpkg-shlibdeps fakeroot; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install dpkg-dev fakeroot)" >&2; exit 2; }
done
arch="$(dpkg --print-architecture)"
maintainer="Switchyard authors <${DEB_MAINTAINER_EMAIL:-switchyard@example.org}>"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"

install -D -m 0755 "$binary" "$pkg/usr/bin/switchyard"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/switchyard"
install -d -m 0755 "$pkg/lib/systemd/system" "$pkg/etc/switchyard"
for unit in "$root"/deploy/systemd/*.service; do
    sed -e 's#/usr/local/bin#/usr/bin#g' "$unit" > "$pkg/lib/systemd/system/$(basename "$unit")"
    chmod 0644 "$pkg/lib/systemd/system/$(basename "$unit")"
done
for example in "$root"/deploy/systemd/*.example; do
    sed -e 's#/usr/local/bin/switchyard#/usr/bin/switchyard#g' "$example" > "$pkg/etc/switchyard/$(basename "$example")"
    chmod 0644 "$pkg/etc/switchyard/$(basename "$example")"
done
install -D -m 0644 "$root/deploy/debian/switchyard.sysusers" "$pkg/usr/lib/sysusers.d/switchyard.conf"
install -D -m 0644 "$root/deploy/debian/switchyard.tmpfiles" "$pkg/usr/lib/tmpfiles.d/switchyard.conf"
doc="$pkg/usr/share/doc/switchyard"
install -D -m 0644 "$root/deploy/debian/copyright" "$doc/copyright"
install -d -m 0755 "$pkg/usr/share/man/man1"
sed "s/@VERSION@/$version/" "$root/deploy/debian/switchyard.1" | gzip -9n > "$pkg/usr/share/man/man1/switchyard.1.gz"
chmod 0644 "$pkg/usr/share/man/man1/switchyard.1.gz"
install -D -m 0644 "$root/deploy/debian/lintian-overrides" "$pkg/usr/share/lintian/overrides/switchyard"
date="$(date -R -d "@$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)")"
printf 'switchyard (%s) unstable; urgency=medium\n\n  * Release %s; see BENCHMARKS.md and docs/production.md.\n\n -- %s  %s\n' \
    "$version" "$version" "$maintainer" "$date" | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

install -d -m 0755 "$pkg/DEBIAN"
install -m 0755 "$root/deploy/debian/postinst" "$root/deploy/debian/postrm" "$pkg/DEBIAN/"
(cd "$pkg" && find etc -type f | sed 's#^#/#' | sort) > "$pkg/DEBIAN/conffiles"
# dpkg-shlibdeps reads a source package's control file; a minimal one in the stage.
mkdir -p "$stage/debian"
printf 'Source: switchyard\n\nPackage: switchyard\nArchitecture: any\n' > "$stage/debian/control"
depends="$(cd "$stage" && dpkg-shlibdeps -O "$pkg/usr/bin/switchyard" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "$0: dpkg-shlibdeps found no dependencies for $binary" >&2; exit 1; }
size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: switchyard
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: admin
Priority: optional
Description: multi-region high-availability control plane for workflow schedulers
 Switchyard elects one scheduler leader per deployment through Postgres
 advisory locks, probes every region's Postgres, Redis and schedulers from an
 agent in each region, and fails the active region over by a quorum of those
 agents: it fences the old region, moves the runs in flight and re-points
 traffic through HTTP hooks.
 .
 Installing this package creates the switchyard system user and installs the
 agent, scheduler and worker units; it enables, starts and stops nothing.
CONTROL
mkdir -p "$out"
deb="$out/switchyard_${version}_${arch}.deb"
fakeroot dpkg-deb --build -Z"$compression" -z"$level" "$pkg" "$deb" >/dev/null
echo "$deb"
