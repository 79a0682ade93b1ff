#!/usr/bin/env bash
# Installs the Debian packages PassLane's demo and tests need, when they are
# missing and we are root; otherwise says exactly what to install.
set -euo pipefail

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
# PostgreSQL server binaries (initdb, pg_ctl) for the multi-worker bridge tests.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Voice prompts in the exam car (Chinese speech synthesis and the ALSA player).
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v aplay >/dev/null || need+=(alsa-utils)
# Chinese text on the tablet and dashboard pages (zh-CN is the default language).
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need+=(fonts-noto-cjk)

# An RTSP camera for the VIN camera test (tests/lane/test_rtsp_camera.py): ffmpeg encodes synthetic frames to
# H.264, GStreamer's RTSP server (through the system Python's PyGObject) serves them.
command -v ffmpeg >/dev/null || need+=(ffmpeg)
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' \
  >/dev/null 2>&1 || need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gst-1.0)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${need[*]}" >&2
  echo "       run: sudo apt-get install -y ${need[*]}   (then run make again)" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "error: apt-get update failed (no network to the Debian mirror?)" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "error: apt-get install ${need[*]} failed" >&2; exit 1; }
# The Debian mosquitto package starts a system broker on 1883; PassLane runs
# its own private brokers on free ports, so the system one is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
