#!/usr/bin/env bash
# Type-check the MicroPython firmware (firmware/*.py, not the CPython-only
# simulator in firmware/sim/) against the micropython-rp2-stubs package:
# `machine`, `time.ticks_ms`, `micropython` etc. resolve to the RP2040 stubs,
# and the standard library to MicroPython's own typeshed (micropython-stdlib-stubs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
RECORD=$(ls -d "$SITE"/micropython_rp2_stubs-*.dist-info 2>/dev/null | head -1)/RECORD
test -f "$RECORD" || { echo "micropython-rp2-stubs not installed in $SITE" >&2; exit 1; }
test -d "$SITE/stdlib" || { echo "micropython-stdlib-stubs not installed in $SITE" >&2; exit 1; }
# mypy refuses site-packages itself on MYPYPATH: link only the stub files of
# micropython-rp2-stubs into a private stub directory.
STUBS=$(mktemp -d)
trap 'rm -rf "$STUBS"' EXIT
STDRECORD=$(ls -d "$SITE"/micropython_stdlib_stubs-*.dist-info | head -1)/RECORD
cat "$RECORD" "$STDRECORD" | while IFS=, read -r path _; do
    case "$path" in
        stdlib/*) ;;                       # the typeshed, given as --custom-typeshed-dir
        *.pyi) mkdir -p "$STUBS/$(dirname "$path")"; ln -sf "$SITE/$path" "$STUBS/$path";;
    esac
done
# The vendor stubs have their own lint findings; report only our firmware's.
cat > "$STUBS/mypy.ini" <<INI
[mypy]
ignore_errors = True
[mypy-firmware.*]
ignore_errors = False
INI
mapfile -t FILES < <(ls firmware/*.py)
echo "typecheck-firmware: ${#FILES[@]} files (${FILES[*]}) against micropython-rp2-stubs"
MYPYPATH="$STUBS" "$PY" -m mypy --config-file "$STUBS/mypy.ini" --custom-typeshed-dir "$SITE" --python-version 3.11 --no-site-packages \
    --check-untyped-defs --warn-unused-ignores --no-incremental --cache-dir=/dev/null \
    "${FILES[@]}"
