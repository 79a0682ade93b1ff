"""docs/mqtt.md and docs/bridge.md are checked against the code they describe."""

from __future__ import annotations

from pathlib import Path

from cloud_bridge.config import config_reference
from cloud_bridge.contract_doc import generated
from cloud_bridge.rules import Rule, rules_reference
from edge.contract import EventKind, NotificationKind, RequestKind

ROOT = Path(__file__).resolve().parents[2]
MQTT = (ROOT / "docs" / "mqtt.md").read_text()
BRIDGE = (ROOT / "docs" / "bridge.md").read_text()


def test_mqtt_doc_contains_the_generated_topic_table_payload_fields_and_enumerations() -> None:
    stale = [block.splitlines()[0] for block in generated() if block not in MQTT]
    assert not stale, f"docs/mqtt.md is stale (run python -m cloud_bridge.contract_doc): {stale}"


def test_mqtt_doc_describes_every_request_event_and_notification_kind() -> None:
    for kind in RequestKind:
        assert f"### `{kind.value}`" in MQTT, f"request kind {kind.value} has no section"
    for kind in EventKind:
        assert f"| `{kind.value}` |" in MQTT, f"event kind {kind.value} missing from the data table"
    for kind in NotificationKind:
        assert f"* `{kind.value}`" in MQTT


def test_bridge_doc_contains_the_generated_config_and_rules_reference() -> None:
    assert config_reference() in BRIDGE, "docs/bridge.md config reference is stale (passlane bridge config-reference)"
    assert rules_reference() in BRIDGE, "docs/bridge.md rules defaults are stale"
    for rule in Rule:
        assert f"| `{rule.value}` |" in BRIDGE
