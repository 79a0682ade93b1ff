"""`passlane pki ...`: create a site's CA, broker certificate and per-unit broker accounts; the bridge's HTTPS
certificate; renew them before they expire (`renew`, daily from deploy/systemd/passlane-pki-renew.timer)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from cryptography import x509

from edge.pki import ROLES, SitePki


def _parse_units(specs: list[str], lanes: int) -> dict[str, str]:
    units = {"bridge": "bridge", "ops": "ops"} | {f"lane-{i:02d}": "lane" for i in range(1, lanes + 1)}
    for spec in specs:
        name, _, role = spec.partition(":")
        units[name] = role or "lane"
    return units


def _init(ns: argparse.Namespace) -> int:
    pki = SitePki(ns.dir)
    try:
        site = pki.init(ns.site, _parse_units(ns.unit, ns.lanes), extra_hosts=ns.host)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    print(f"site {site.site} in {Path(ns.dir).resolve()}")
    for unit, role in site.units.items():
        print(f"  {unit:<12} {role:<13} password file {pki.password_file(unit)}")
    print(f"  CA certificate: {pki.ca_cert}")
    return 0


def _http_cert(ns: argparse.Namespace) -> int:
    pki = SitePki(ns.dir)
    try:
        cert = pki.issue_http_cert(ns.host, name=ns.name)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    cert_file, key_file = pki.http_cert(ns.name)
    names = ", ".join(str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    print(f"HTTPS certificate {cert_file.resolve()} (key {key_file.resolve()}, mode 0600)")
    print(f"  names: {names}")
    print(f"  valid until {cert.not_valid_after_utc:%Y-%m-%d}; signed by the site CA {pki.ca_cert.resolve()}")
    print("in bridge.toml:")
    print("  [http.tls]")
    print(f'  cert_file = "{cert_file.resolve()}"')
    print(f'  key_file = "{key_file.resolve()}"')
    print("browsers trust it once the site CA certificate is installed as a trusted root")
    return 0


def _copy_keeping_owner_and_mode(src: Path, dst: Path) -> None:
    """Replace an installed copy (e.g. /etc/mosquitto/passlane/broker.key, owner mosquitto, 0600) in place."""
    st = dst.stat()
    tmp = dst.with_name(dst.name + ".new")
    shutil.copyfile(src, tmp)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    tmp.replace(dst)


def _renew(ns: argparse.Namespace) -> int:
    pki = SitePki(ns.dir)
    try:
        renewed = pki.renew(ns.within_days, ns.ca_within_days)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    if not renewed:
        print(f"nothing to renew in {pki.root} (servers: more than {ns.within_days:g} days left)")
        return 0
    for r in renewed:
        print(f"renewed {r.path.name}: was valid until {r.old_end:%Y-%m-%d}, now until {r.new_end:%Y-%m-%d}")
    files = [f for r in renewed for f in (r.path, r.key_path) if f is not None]
    for folder in ns.copy_to:
        for f in files:
            installed = Path(folder) / f.name
            if installed.exists():
                _copy_keeping_owner_and_mode(f, installed)
                print(f"  replaced {installed}")
    if any(r.path == pki.ca_cert for r in renewed):
        print(f"copy the new {pki.ca_cert} to every unit (/etc/passlane/site/ca.crt) before the old one ends")
    if ns.then:
        done = subprocess.run(ns.then, shell=True, check=False)  # the operator's own command, e.g. a restart
        if done.returncode != 0:
            print(f"error: `{ns.then}` exited {done.returncode}")
            return 1
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    init = sub.add_parser("init", help="create or extend a site (idempotent: keeps existing keys and passwords)")
    init.add_argument("dir", help="site directory (holds keys and secrets: keep it private)")
    init.add_argument("--site", default="site-1", help="site id (default site-1)")
    init.add_argument("--lanes", type=int, default=2, help="number of lane units lane-01.. (default 2)")
    init.add_argument(
        "--unit", action="append", default=[], metavar="NAME[:ROLE]", help=f"extra unit; roles: {', '.join(ROLES)}"
    )
    init.add_argument("--host", action="append", default=[], help="extra broker host name or IP for its certificate")
    init.set_defaults(func=_init)
    http = sub.add_parser(
        "http-cert", help="issue the bridge's HTTPS certificate from the site CA (new key; re-run to renew)"
    )
    http.add_argument("dir", help="site directory created by `passlane pki init`")
    http.add_argument(
        "--host",
        action="append",
        default=[],
        required=True,
        help="host name or IP address the dashboard is reached at (repeat; localhost and 127.0.0.1 are always included)",
    )
    http.add_argument(
        "--name", default="bridge-http", help="file name stem: <dir>/<name>.crt and .key (default bridge-http)"
    )
    http.set_defaults(func=_http_cert)
    renew = sub.add_parser(
        "renew", help="renew server certificates about to expire (same names, new key) and the CA (same key)"
    )
    renew.add_argument("dir", help="site directory created by `passlane pki init`")
    renew.add_argument(
        "--within-days", type=float, default=30, help="renew a server certificate with fewer days left (default 30)"
    )
    renew.add_argument(
        "--ca-within-days", type=float, default=365, help="sign the CA again with fewer days left (default 365)"
    )
    renew.add_argument(
        "--copy-to",
        action="append",
        default=[],
        metavar="DIR",
        help="replace the renewed files found in DIR, keeping their owner and mode (repeat; e.g. /etc/mosquitto/passlane)",
    )
    renew.add_argument(
        "--then", metavar="COMMAND", help="run this shell command once when something was renewed (a restart)"
    )
    renew.set_defaults(func=_renew)
