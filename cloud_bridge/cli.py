"""`passlane bridge ...`: serve, database, reference data, users, audit."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from cloud_bridge.config import ConfigError, load_settings
from cloud_bridge.store import AuditKeyMissing


def _settings(ns: argparse.Namespace) -> Any:
    overrides: dict[str, Any] = {
        "db": getattr(ns, "db", None),
        "mqtt.host": getattr(ns, "mqtt_host", None),
        "mqtt.port": getattr(ns, "mqtt_port", None),
        "mqtt.ca": getattr(ns, "ca", None),
        "mqtt.site_dir": getattr(ns, "site_dir", None),
        "http.listen": getattr(ns, "http", None),
        "http.tls.cert_file": getattr(ns, "tls_cert", None),
        "http.tls.key_file": getattr(ns, "tls_key", None),
        "workers": getattr(ns, "workers", None),
        "payments.key_file": getattr(ns, "payment_key_file", None),
        "rules.file": getattr(ns, "rules", None),
        "audit.key_file": getattr(ns, "audit_key_file", None),
        "mqtt.client_id_prefix": getattr(ns, "client_id_prefix", None),
    }
    return load_settings(
        getattr(ns, "config", None), {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()}
    )


def _common(p: argparse.ArgumentParser, *, mqtt: bool = False) -> None:
    p.add_argument("--config", type=Path, help="bridge.toml (see docs/bridge.md)")
    p.add_argument("--db", help="SQLite file or postgresql://... (overrides the config)")
    p.add_argument(
        "--audit-key-file", type=Path, help="file holding the key that signs audit entries (kept outside the database)"
    )
    if mqtt:
        p.add_argument("--mqtt-host", help="broker host name or IP (mqtt.host)")
        p.add_argument("--mqtt-port", type=int, help="broker TLS port (mqtt.port)")
        p.add_argument("--ca", type=Path, help="site CA certificate")
        p.add_argument("--site-dir", type=Path, help="site PKI directory holding secrets/bridge.password")
        p.add_argument("--http", help="host:port for the dashboard and API, or 'none'")
        p.add_argument(
            "--tls-cert",
            type=Path,
            help="serve HTTPS with this certificate (http.tls.cert_file; `passlane pki http-cert`)",
        )
        p.add_argument("--tls-key", type=Path, help="private key of --tls-cert (http.tls.key_file; mode 600)")
        p.add_argument("--workers", type=int, help="ingest workers in this process")
        p.add_argument(
            "--worker-base",
            type=int,
            default=0,
            help="first worker number (client id <prefix>-<n>): give each process its own range",
        )
        p.add_argument("--client-id-prefix", help="MQTT client id prefix of the workers")
        p.add_argument("--payment-key-file", type=Path, help="file holding the payment provider's HMAC key")
        p.add_argument("--rules", type=Path, help="risk rules file")


class DatabaseMissing(Exception):
    """A command that only reads or changes an existing database was pointed at none."""


def _sqlite_file(url: str) -> Path | None:
    """The SQLite file a database URL names; None for PostgreSQL and an in-memory database."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    path = url.removeprefix("sqlite:///")
    return None if path == ":memory:" else Path(path)


def _store(ns: argparse.Namespace, *, create: bool = False) -> Any:
    """The bridge's store, migrated; `create`: an absent SQLite file is created, else it is refused."""
    from cloud_bridge.store import open_store

    settings = _settings(ns)
    path = _sqlite_file(settings.db)
    if not create and path is not None and not path.exists():
        source = (
            "from --db"
            if getattr(ns, "db", None)
            else f"db in {ns.config}"
            if getattr(ns, "config", None)
            else "the default"
        )
        raise DatabaseMissing(
            f"no bridge database at {path.resolve()} ({source}); name it with --db FILE or --db postgresql://..., "
            "or with --config bridge.toml; `passlane bridge init-db` creates a new one"
        )
    store = open_store(settings.db_url(), settings.audit.key())
    store.migrate()
    return store


def cmd_serve(ns: argparse.Namespace) -> int:
    from cloud_bridge.runner import serve

    http = ns.http != "none"
    if not http:
        ns.http = None
    return serve(_settings(ns), http=http, worker_base=ns.worker_base)


def cmd_init_db(ns: argparse.Namespace) -> int:
    from cloud_bridge.store import open_store

    settings = _settings(ns)
    store = open_store(settings.db_url())
    applied = store.migrate()
    print(f"schema version {store.schema_version()} ({applied} migration(s) applied)")
    return 0


def cmd_load_reference(ns: argparse.Namespace) -> int:
    from cloud_bridge.reference import load_into, read_reference

    data = read_reference(ns.file)
    store = _store(ns, create=True)
    owners, vehicles = load_into(store, data)
    store.audit.append(
        os.environ.get("USER", "cli"), "reference.load", str(ns.file), {"owners": owners, "vehicles": vehicles}
    )
    print(f"loaded {owners} owners and {vehicles} vehicles from {ns.file}")
    return 0


def cmd_gen_reference(ns: argparse.Namespace) -> int:
    from cloud_bridge.reference import generate, write_reference
    from edge.contract import PlateKind, plate_kind_for_fuel

    data, problems = generate(ns.vehicles, ns.seed)
    write_reference(data, ns.out)
    ne = sum(1 for v in data.vehicles if plate_kind_for_fuel(v.certificate.fuel_type) is PlateKind.NEW_ENERGY)
    print(f"wrote {len(data.owners)} owners and {len(data.vehicles)} vehicles ({ne} new-energy) to {ns.out}")
    for kind, vins in problems.items():
        print(f"  {kind}: {len(vins)} {' '.join(vins[:5])}{' ...' if len(vins) > 5 else ''}")
    return 0


def _read_password(ns: argparse.Namespace) -> str:
    if ns.password_file:
        return Path(ns.password_file).read_text().strip()
    if os.environ.get(ns.password_env):
        return os.environ[ns.password_env]
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    raise SystemExit(f"give --password-file or set ${ns.password_env}")


def cmd_user_add(ns: argparse.Namespace) -> int:
    from cloud_bridge.auth import hash_password

    store = _store(ns, create=True)
    store.accounts.add_user(ns.name, ns.role, hash_password(_read_password(ns)))
    store.audit.append(os.environ.get("USER", "cli"), "user.add", f"user/{ns.name}", {"role": ns.role})
    print(f"user {ns.name} ({ns.role}) saved")
    return 0


def cmd_user_token(ns: argparse.Namespace) -> int:
    from cloud_bridge.auth import new_token, token_hash

    store = _store(ns)
    if store.accounts.user(ns.name) is None:
        print(f"no user {ns.name}", file=sys.stderr)
        return 1
    token = new_token()
    store.accounts.add_token(token_hash(token), ns.name, ns.label)
    store.audit.append(os.environ.get("USER", "cli"), "token.create", f"user/{ns.name}", {"label": ns.label})
    print(token)
    return 0


def cmd_user_list(ns: argparse.Namespace) -> int:
    for u in _store(ns).accounts.users():
        print(f"{u['name']}\t{u['role']}{'  (disabled)' if u['disabled'] else ''}")
    return 0


def cmd_audit_verify(ns: argparse.Namespace) -> int:
    """The audit log's chain and signatures, and every unit's event chain and conflicts; exit 1 on any problem."""
    store = _store(ns)
    problems = store.audit.verify()
    n = len(store.audit.entries())
    signed = (
        "hash chain and signatures verified"
        if store.audit.key
        else "hash chain verified (entries not signed: no [audit] key configured)"
    )
    if problems:
        print(f"audit log BROKEN ({n} entries):")
        for p in problems:
            print(f"  {p}")
    else:
        print(f"audit log intact: {n} entries, {signed}")
    event_problems = store.unit_records.verify_chains()
    counts = store.counts()
    if event_problems:
        print(f"unit event records: {len(event_problems)} problem(s) in {counts['events_stored']} events:")
        for p in event_problems:
            print(f"  {p}")
    else:
        print(
            f"unit event records intact: {counts['events_stored']} events, every unit's chain verified, no conflicting versions"
        )
    return 1 if problems or event_problems else 0


def cmd_stats(ns: argparse.Namespace) -> int:
    print(json.dumps(_store(ns).counts(), ensure_ascii=False, indent=2))
    return 0


def cmd_config_reference(ns: argparse.Namespace) -> int:
    from cloud_bridge.config import config_reference

    print(config_reference())
    return 0


def _wrap(fn: Any) -> Any:
    def run(ns: argparse.Namespace) -> int:
        try:
            return fn(ns)
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return 2
        except (AuditKeyMissing, DatabaseMissing) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bridge_command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run ingest workers, the dashboard and the API")
    _common(p, mqtt=True)
    p.set_defaults(func=_wrap(cmd_serve))

    p = sub.add_parser("init-db", help="create or migrate the database")
    _common(p)
    p.set_defaults(func=_wrap(cmd_init_db))

    p = sub.add_parser("load-reference", help="load partner reference data (JSON or CSV, docs/bridge.md)")
    _common(p)
    p.add_argument("file", type=Path, help="reference data file (.json or .csv, e.g. from `gen-reference`)")
    p.set_defaults(func=_wrap(cmd_load_reference))

    p = sub.add_parser("gen-reference", help="generate a realistic reference data set")
    p.add_argument("out", type=Path, help="output file (.json or .csv)")
    p.add_argument("--vehicles", type=int, default=500, help="number of vehicles (default 500)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed writes the same data (default 1)")
    p.set_defaults(func=_wrap(cmd_gen_reference))

    up = sub.add_parser("user", help="dashboard and API users")
    usub = up.add_subparsers(dest="user_command", metavar="COMMAND")
    p = usub.add_parser("add", help="add a user or change their role and password")
    _common(p)
    p.add_argument("name", help="user name to sign in with")
    p.add_argument(
        "--role",
        required=True,
        choices=["ops-admin", "ops-viewer", "exam-operator"],
        help="ops-admin (everything), ops-viewer (dashboard, cases, alerts), exam-operator (summary figures only)",
    )
    p.add_argument("--password-file", type=Path, help="file holding the password (first line)")
    p.add_argument(
        "--password-env",
        default="PASSLANE_USER_PASSWORD",
        help="else the environment variable holding it (default PASSLANE_USER_PASSWORD); else it is asked for",
    )
    p.set_defaults(func=_wrap(cmd_user_add))
    p = usub.add_parser("token", help="print a new API token for a user")
    _common(p)
    p.add_argument("name", help="an existing user")
    p.add_argument("--label", default="cli", help="what the token is for, shown in the audit log (default cli)")
    p.set_defaults(func=_wrap(cmd_user_token))
    p = usub.add_parser("list", help="list users")
    _common(p)
    p.set_defaults(func=_wrap(cmd_user_list))

    ap = sub.add_parser("audit", help="the audit log")
    asub = ap.add_subparsers(dest="audit_command", metavar="COMMAND")
    p = asub.add_parser(
        "verify", help="check the audit log's chain and signatures and every unit's event chain; exit 1 on any problem"
    )
    _common(p)
    p.set_defaults(func=_wrap(cmd_audit_verify))

    p = sub.add_parser("stats", help="print stored events, duplicates, gaps, dead letters, cases")
    _common(p)
    p.set_defaults(func=_wrap(cmd_stats))

    p = sub.add_parser("config-reference", help="print the bridge.toml reference (Markdown)")
    p.set_defaults(func=_wrap(cmd_config_reference))
