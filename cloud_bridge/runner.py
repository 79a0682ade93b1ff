"""Running a bridge process: N ingest workers, the periodic sweep and the HTTP server."""

from __future__ import annotations

import logging
import os
import signal
import ssl
import stat
import threading
from typing import Any

from cloud_bridge.config import BridgeSettings, ConfigError, HttpTlsConfig
from cloud_bridge.metrics import Metrics
from cloud_bridge.service import Service
from cloud_bridge.store import Store, open_store
from edge.logs import setup_logging
from edge.systemd_notify import SystemdNotifier

log = logging.getLogger("passlane.bridge")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("fees_cents", "severity"):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif k == "db" and isinstance(v, str) and "@" in v:
            import re

            out[f"{prefix}{k}"] = re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", v)  # never a password in the audit log
        else:
            out[f"{prefix}{k}"] = v
    return out


class Bridge:
    """One bridge process. `start()` returns once the workers are connecting; `stop()` is clean."""

    def __init__(self, settings: BridgeSettings, *, worker_base: int = 0, sweep_s: float = 5.0) -> None:
        from cloud_bridge.worker import IngestWorker, MqttPublisher

        self.settings = settings
        self.store: Store = open_store(settings.db_url(), settings.audit.key())
        self.store.migrate()
        self.store.audit.record_config(
            _flatten(settings.model_dump(mode="json", exclude={"mqtt": {"client_id_prefix"}}))
        )
        self.metrics = Metrics()
        self.metrics.add_store_collector(self.store)
        self.service = Service(settings, self.store)
        self.workers = [
            IngestWorker(settings, self.service, self.metrics, worker_base + i) for i in range(settings.workers)
        ]
        self.publisher: Any = None
        if self.workers:
            w0 = self.workers[0]

            def publish(topic_name: str, payload: bytes, qos: int, retain: bool) -> None:
                w0.client.publish(topic_name, payload, qos=qos, retain=retain)

            self.service.publish = publish
        else:
            try:
                self.publisher = MqttPublisher(settings, f"{settings.mqtt.client_id_prefix}-pub-{os.getpid()}")
                self.service.publish = self.publisher
            except (ValueError, OSError) as exc:
                log.warning("no MQTT publisher (%s): payments and commands will not reach lanes", exc)
        self.sweep_s = sweep_s
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sweep", daemon=True)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_s):
            try:
                self.service.sweep()
            except Exception:
                log.exception("sweep failed")

    def start(self) -> Bridge:
        for w in self.workers:
            w.start()
        self._sweeper.start()
        return self

    def app(self) -> Any:
        from cloud_bridge.app import create_app

        return create_app(self.settings, store=self.store, service=self.service, metrics=self.metrics)

    def stop(self) -> None:
        self._stop.set()
        for w in self.workers:
            w.stop()
        if self.publisher is not None:
            self.publisher.stop()
        self.store.close()


def check_tls_files(tls: HttpTlsConfig) -> None:
    """Refuse to serve HTTPS with a private key others may read, or with files that do not make a TLS server.

    Checked before anything starts, so a bad file is a clear config error and not a
    traceback from inside uvicorn. Group read access is allowed (Debian's ssl-cert group).
    """
    if not tls.enabled:
        return
    assert tls.cert_file is not None and tls.key_file is not None
    try:
        mode = tls.key_file.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"http.tls.key_file: {exc}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(
            f"http.tls.key_file: {tls.key_file} may be read by anyone (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {tls.key_file}` (or 640 with a group)"
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"http.tls: {tls.cert_file} and {tls.key_file} are not a certificate and its key: {exc}"
        ) from None


def _notifying_server_class() -> type:
    """uvicorn's Server that says READY=1 once it listens (and feeds the watchdog from its loop), STOPPING=1 on shutdown."""
    import uvicorn

    class NotifyingServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, systemd: SystemdNotifier, status: str) -> None:
            super().__init__(config)
            self.systemd, self.status = systemd, status

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:  # uvicorn sets should_exit when it could not bind
                self.systemd.ready(self.status)

        async def shutdown(self, sockets: Any = None) -> None:
            self.systemd.stopping()
            await super().shutdown(sockets=sockets)

    return NotifyingServer


def serve(settings: BridgeSettings, *, http: bool = True, worker_base: int = 0) -> int:
    """Run until SIGINT/SIGTERM (then stop within seconds and return 0).

    HTTPS when `http.tls` names a certificate and key (checked first: see check_tls_files).
    """
    setup_logging(logging.INFO)
    import sys

    tls = settings.http.tls
    if http:
        check_tls_files(tls)
    sys.setswitchinterval(
        0.001
    )  # the MQTT network thread and the ingest thread hand the GIL over quickly (default 5 ms)
    bridge = Bridge(settings, worker_base=worker_base).start()
    systemd = SystemdNotifier()  # under systemd (deploy/systemd): READY once serving, then the watchdog
    try:
        if http:
            import uvicorn

            host, _, port = settings.http.listen.rpartition(":")
            # timeout_graceful_shutdown: on SIGTERM, open keep-alive or streaming connections get this long to
            # finish, then are closed, so a browser left open cannot hold the stop up (systemd waits 90 s, then kills).
            config = uvicorn.Config(
                bridge.app(),
                host=host or "127.0.0.1",
                port=int(port),
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=3,
                ssl_certfile=str(tls.cert_file) if tls.cert_file else None,
                ssl_keyfile=str(tls.key_file) if tls.key_file else None,
            )
            server = _notifying_server_class()(
                config, systemd, f"bridge: {settings.http.listen}, {len(bridge.workers)} worker(s)"
            )
            # uvicorn re-raises the signal that stopped it once it has shut down: let that land on a handler
            # that returns, so the workers below are stopped cleanly and the exit status is 0.
            signal.signal(signal.SIGTERM, lambda *a: None)
            signal.signal(signal.SIGINT, lambda *a: None)
            log.info(
                "bridge serving %s://%s with %d worker(s) on %s",
                "https" if tls.enabled else "http",
                settings.http.listen,
                len(bridge.workers),
                settings.db.split("@")[-1],
            )
            server.run()
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *a: stop.set())
            signal.signal(signal.SIGINT, lambda *a: stop.set())
            log.info("bridge running %d worker(s) without HTTP", len(bridge.workers))
            systemd.notify("READY=1", f"STATUS=bridge: {len(bridge.workers)} worker(s), no HTTP")
            while not stop.wait(systemd.watchdog_s or 3600.0):  # no event loop here: the main thread feeds it
                systemd.notify("WATCHDOG=1")
            systemd.notify("STOPPING=1")
    finally:
        bridge.stop()
    return 0
