#!/bin/sh
# Install PassLane from an offline bundle (`passlane bundle`), with no network access.
#
#   sudo ./install.sh --role lane|exam-vehicle|bridge [--root DIR] [--python PYTHON] [--system-site-packages]
#
# Into /opt/passlane/<version> (a venv from the bundle's wheels only) with /opt/passlane/current
# pointing at it: upgrade or roll back by pointing the link at another version and restarting
# the service. Creates the `passlane` system user (groups for the role's devices),
# /etc/passlane/ (root:passlane 0750; secrets go in /etc/passlane/secrets/, 0600 owned by
# passlane) and /var/lib/passlane/ (passlane, 0750); installs the role's systemd unit, the udev
# rules (never over a copy a technician has filled in) and, for the bridge, the broker config
# example. --root installs into a scratch root instead of / (tests, image builds): no user,
# no ownership, no systemctl. Needs python3 with venv (Debian: python3-venv). --system-site-packages
# lets the venv see Debian's python3-picamera2 (a Raspberry Pi camera module, camera source
# picamera2:0), which is not on PyPI. docs/deploy.md.
set -eu

role=""
root=""
python="python3"
venv_args=""
while [ $# -gt 0 ]; do
    case "$1" in
        --role) role="${2:-}"; shift 2 ;;
        --root) root="${2:-}"; shift 2 ;;
        --python) python="${2:-}"; shift 2 ;;
        --system-site-packages) venv_args="--system-site-packages"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$role" in
    lane) extras="edge"; unit="passlane-lane.service"; groups="dialout video" ;;
    exam-vehicle) extras="edge,exam"; unit="passlane-exam-vehicle.service"; groups="dialout audio" ;;
    bridge) extras="cloud"; unit="passlane-bridge.service"; groups="" ;;
    *) echo "install.sh: --role lane, exam-vehicle or bridge is required" >&2; exit 2 ;;
esac
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (or give --root DIR to install into a scratch root)" >&2
    exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$here/VERSION")
arch=$(cat "$here/ARCH")
if [ "$(uname -m)" != "$arch" ]; then
    echo "install.sh: this bundle is for $arch, this machine is $(uname -m)" >&2
    exit 1
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "install.sh: $python cannot make a venv; on Debian: apt-get install python3-venv" >&2
    exit 1
fi

prefix="$root/opt/passlane/$version"
echo "installing passlane $version ($role) into $prefix"
rm -rf "$prefix"
"$python" -m venv $venv_args "$prefix"
"$prefix/bin/python" -m pip install --quiet --no-index --find-links "$here/wheels" "passlane[$extras]==$version"
mkdir -p "$prefix/share/passlane"
cp -r "$here/firmware" "$prefix/share/passlane/"
cp "$here/deploy.md" "$prefix/share/passlane/"
ln -sfn "$version" "$root/opt/passlane/current"

install -d -m 0750 "$root/etc/passlane" "$root/etc/passlane/secrets" "$root/var/lib/passlane"
install -d "$root/etc/systemd/system" "$root/etc/udev/rules.d"
install -m 0644 "$here/systemd/$unit" "$root/etc/systemd/system/$unit"
if [ "$role" != bridge ] && [ ! -e "$root/etc/udev/rules.d/99-passlane.rules" ]; then
    install -m 0644 "$here/udev/99-passlane.rules" "$root/etc/udev/rules.d/99-passlane.rules"
fi
if [ "$role" = bridge ]; then
    # certificate renewal on the site server (enable the timer once the site folder exists: docs/deploy.md)
    install -m 0644 "$here/systemd/passlane-pki-renew.service" "$root/etc/systemd/system/passlane-pki-renew.service"
    install -m 0644 "$here/systemd/passlane-pki-renew.timer" "$root/etc/systemd/system/passlane-pki-renew.timer"
    install -d "$root/etc/passlane/examples"
    install -m 0644 "$here/mosquitto/passlane.conf" "$root/etc/passlane/examples/mosquitto-passlane.conf"
fi

if [ -z "$root" ]; then
    getent passwd passlane >/dev/null || adduser --system --group --home /var/lib/passlane --no-create-home passlane
    for g in $groups; do adduser --quiet passlane "$g"; done
    chown root:passlane /etc/passlane /etc/passlane/secrets
    chown passlane:passlane /var/lib/passlane
    udevadm control --reload 2>/dev/null || true
    systemctl daemon-reload
    echo "installed. Next: /etc/passlane/ config and secrets (docs/deploy.md), then: systemctl enable --now ${unit%.service}"
else
    echo "installed into $root"
fi
