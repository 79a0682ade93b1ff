"""The audit log's hash chain. Pure: the store appends and reads rows.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's
canonical JSON (id, ts, actor, action, target, detail). Editing an entry
breaks its own hash; deleting one breaks the link of the next (and the ids
are contiguous, so a deleted tail entry is found by the head kept in `meta`).

Anyone who can write the database could edit an entry and recompute every
hash after it. So each entry is also signed (`mac`: HMAC-SHA-256 of its id and
hash) with the audit key, which lives outside the database (`[audit]` in
bridge.toml): a re-chained entry has no valid signature without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

GENESIS = "0" * 64


def entry_hash(prev_hash: str, entry_id: int, ts: float, actor: str, action: str, target: str, detail: Any) -> str:
    canon = json.dumps(
        [entry_id, round(float(ts), 6), actor, action, target, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + canon).encode()).hexdigest()


def entry_mac(key: bytes, entry_id: int, entry_hash_hex: str) -> str:
    """The signature of one entry: HMAC-SHA-256 over its id and hash, with the key kept outside the database."""
    return hmac.new(key, f"{entry_id}:{entry_hash_hex}".encode(), hashlib.sha256).hexdigest()


def verify_chain(
    rows: Iterable[dict[str, Any]], head: tuple[int, str] | None = None, key: bytes | None = None
) -> list[str]:
    """Problems found in the chain (empty when intact). `head` is (last id, last hash) recorded separately.

    With `key`, every entry must carry a valid signature: an entry edited and re-chained does not.
    """
    problems: list[str] = []
    prev = GENESIS
    expected_id = 1
    last: tuple[int, str] | None = None
    for r in rows:
        if r["id"] != expected_id:
            problems.append(f"entry {expected_id}..{r['id'] - 1} missing (deleted)")
        detail = json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
        if r["prev_hash"] != prev:
            problems.append(f"entry {r['id']}: link to the previous entry broken")
        if entry_hash(r["prev_hash"], r["id"], r["ts"], r["actor"], r["action"], r["target"], detail) != r["hash"]:
            problems.append(f"entry {r['id']}: content edited (hash mismatch)")
        if key is not None and not hmac.compare_digest(r.get("mac") or "", entry_mac(key, r["id"], r["hash"])):
            problems.append(
                f"entry {r['id']}: {'not signed' if not r.get('mac') else 'signature invalid (edited and re-chained without the audit key)'}"
            )
        prev = r["hash"]
        expected_id = r["id"] + 1
        last = (r["id"], r["hash"])
    if head is not None and head[0] > 0 and (last is None or last[0] < head[0]):
        problems.append(f"entries after {last[0] if last else 0} up to {head[0]} missing (deleted tail)")
    elif head is not None and last is not None and last[0] == head[0] and last[1] != head[1]:
        problems.append(f"entry {last[0]}: differs from the recorded head")
    return problems
