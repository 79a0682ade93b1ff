"""The audit hash chain, payment signatures, configuration and reference data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raw_db import tamper

from cloud_bridge import payments
from cloud_bridge.config import ConfigError, config_reference, load_settings
from cloud_bridge.reference import (
    from_csv,
    generate,
    id_number_valid,
    read_reference,
    to_csv,
    vin_check_digit,
    vin_valid,
    write_reference,
)
from cloud_bridge.store import open_store

ROOT = Path(__file__).resolve().parents[2]
KEY = b"k" * 32


def test_intact_audit_chain_verifies_and_an_edit_or_delete_is_detected(store) -> None:
    for i in range(5):
        store.audit.append("alice", "alert.acknowledge", f"alert/{i}", {"i": i})
    assert store.audit.verify() == []
    tamper(store, "UPDATE audit SET actor = 'mallory' WHERE id = 3")
    assert any("entry 3" in p for p in store.audit.verify())
    tamper(store, "UPDATE audit SET actor = 'alice' WHERE id = 3")
    assert store.audit.verify() == []
    tamper(store, "DELETE FROM audit WHERE id = 2")
    assert any("missing" in p for p in store.audit.verify())


def test_deleting_the_newest_audit_entry_is_detected(store) -> None:
    for i in range(3):
        store.audit.append("alice", "config.change", "bridge", {"i": i})
    tamper(store, "DELETE FROM audit WHERE id = 3")
    assert store.audit.verify()


def test_audit_verify_cli_exit_status(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite3"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "bridge", *args, "--db", str(db)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    pw = tmp_path / "pw"
    pw.write_text("correct horse battery")
    assert run("user", "add", "alice", "--role", "ops-admin", "--password-file", str(pw)).returncode == 0
    ok = run("audit", "verify")
    assert ok.returncode == 0 and "intact" in ok.stdout
    store = open_store(str(db))
    try:
        tamper(store, 'UPDATE audit SET detail = \'{"role": "ops-viewer"}\' WHERE id = 1')
    finally:
        store.close()
    bad = run("audit", "verify")
    assert bad.returncode == 1 and "edited" in bad.stdout


def test_signature_verifies_and_tampering_or_staleness_is_refused() -> None:
    body = payments.callback_body("pay_1", 100)
    now = time.time()
    header = payments.sign(KEY, body)
    assert payments.verify(KEY, body, header, now, 300).nonce
    for bad_body, bad_header, code in [
        (body.replace(b"100", b"1"), header, "bad_signature"),
        (body, payments.sign(b"other-key", body), "bad_signature"),
        (body, None, "missing_signature"),
        (body, "t=1,n=abc", "bad_signature"),
        (body, payments.sign(KEY, body, t=int(now) - 3600), "stale_signature"),
    ]:
        with pytest.raises(payments.SignatureError) as exc:
            payments.verify(KEY, bad_body, bad_header, now, 300)
        assert exc.value.code == code


def test_unknown_config_keys_are_refused_with_their_path(tmp_path: Path) -> None:
    cfg = tmp_path / "bridge.toml"
    cfg.write_text('db = "x.sqlite3"\n[mqtt]\nhost = "h"\nprot = 1\n')
    with pytest.raises(ConfigError, match=r"mqtt\.prot"):
        load_settings(cfg)
    cfg.write_text("[plates]\nreservation_s = 1\n")
    with pytest.raises(ConfigError, match=r"plates\.reservation_s"):
        load_settings(cfg)
    cfg.write_text('authorities = ["苏A", "京a"]\n')
    with pytest.raises(ConfigError, match="authority"):
        load_settings(cfg)


def test_docs_config_reference_is_generated_from_the_models() -> None:
    doc = (ROOT / "docs" / "bridge.md").read_text()
    assert config_reference() in doc, "docs/bridge.md is stale: paste `passlane bridge config-reference` into it"


def test_vin_and_id_check_characters_match_public_vectors() -> None:
    assert vin_valid("1M8GDM9AXKP042788") and vin_valid("LSVAU218XN2183294")
    assert vin_check_digit("WP0ZZZ99ZTS392124") == "8"
    assert id_number_valid("11010519491231002X") and not id_number_valid("110105194912310021")


def test_generated_reference_data_is_realistic(tmp_path: Path) -> None:
    data, problems = generate(300, seed=5)
    vins = [v.vin for v in data.vehicles]
    assert len(set(vins)) == 300 and all(vin_valid(v) for v in vins)
    try:
        from vininfo import Vin

        assert all(Vin(v).verify_checksum() for v in vins[:50])
    except ImportError:
        pass
    assert all(id_number_valid(o.id_number) for o in data.owners)
    assert sum(v.startswith("L") for v in vins) > 250 and any(not v.startswith("L") for v in vins)
    ne = sum(v.certificate.fuel_type in ("bev", "phev", "fcev") for v in data.vehicles) / 300
    assert 0.2 < ne < 0.4
    assert problems["insurance_missing"]
    # the two file formats round-trip
    back = from_csv(to_csv(data))
    assert back.model_dump() == data.model_dump()
    write_reference(data, tmp_path / "ref.json")
    assert read_reference(tmp_path / "ref.json").model_dump() == data.model_dump()
    json.loads((tmp_path / "ref.json").read_text())


def test_a_configuration_change_between_starts_is_audited(store) -> None:
    assert store.audit.record_config({"http.listen": "127.0.0.1:8080", "workers": 1})
    assert store.audit.record_config({"http.listen": "127.0.0.1:8080", "workers": 1}) == {}
    changed = store.audit.record_config({"http.listen": "127.0.0.1:8080", "workers": 2})
    assert changed == {"workers": [1, 2]}
    entries = [r for r in store.audit.entries() if r["action"] == "config.change"]
    assert len(entries) == 2 and '"workers": [1, 2]' in entries[-1]["detail"]
    assert store.audit.verify() == []


def test_the_example_config_loads() -> None:
    s = load_settings(ROOT / "cloud_bridge" / "bridge.example.toml")
    assert s.plates.options_default == 50 and s.payments.fees_cents["plate"] == 10000
