"""Every event kind has a name in zh-CN and English, the one both the tablet and the bridge show."""

from __future__ import annotations

from edge.contract import EventKind
from edge.event_names import EVENT_NAMES


def test_every_event_kind_is_named_once_in_both_languages() -> None:
    assert set(EVENT_NAMES) == {k.value for k in EventKind}
    for kind, names in EVENT_NAMES.items():
        assert set(names) == {"zh-CN", "en"}, kind
        assert names["zh-CN"] and not names["zh-CN"].isascii(), kind
        assert names["en"] and "." not in names["en"], kind
