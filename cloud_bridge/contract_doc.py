"""The generated parts of docs/mqtt.md: topic table, payload fields, enumerations, from edge/contract.py.

`python -m cloud_bridge.contract_doc` prints them (`--write docs/mqtt.md`
refreshes them in place); a test checks that
docs/mqtt.md contains them verbatim, so the human spec cannot drift from
the contract module.
"""

from __future__ import annotations

import typing
from enum import Enum

from pydantic import BaseModel

from edge import contract as c

DIRECTION = dict.fromkeys(c.UNIT_PUBLISHES, "unit → bridge") | dict.fromkeys(c.UNIT_SUBSCRIBES, "bridge → unit")


def _type_name(ann: typing.Any) -> str:
    if isinstance(ann, type) and issubclass(ann, (Enum, BaseModel)):
        return ann.__name__
    text = str(ann).replace("typing.", "").replace("edge.contract.", "").replace("<class '", "").replace("'>", "")
    text = text.replace("<enum ", "").replace(">", "").replace("'", "")
    return text.replace("|", "\\|")


def topic_table() -> str:
    rows = ["| leaf | topic | direction | QoS | retained | payload |", "|---|---|---|---|---|---|"]
    for leaf in c.Leaf:
        rows.append(
            f"| `{leaf.value}` | `{c.TOPIC_ROOT}/{{site}}/{{unit}}/{leaf.value}` | {DIRECTION[leaf]} | {c.QOS[leaf]} | "
            f"{'yes' if leaf in c.RETAINED else 'no'} | `{c.PAYLOAD_MODELS[leaf].__name__}`"
            + (" or `EventBatch`" if leaf == c.Leaf.EVENTS else "")
            + " |"
        )
    return "\n".join(rows)


def model_table(model: type[BaseModel]) -> str:
    rows = [f"#### `{model.__name__}`", "", "| field | type | default | meaning |", "|---|---|---|---|"]
    for name, f in model.model_fields.items():
        default = "required" if f.is_required() else f"`{f.get_default(call_default_factory=True)!r}`"
        rows.append(
            f"| `{name}` | `{_type_name(f.annotation)}` | {default} | {(f.description or '').replace('|', '/')} |"
        )
    return "\n".join(rows)


def enum_list(enum: type[Enum]) -> str:
    return f"`{enum.__name__}`: " + ", ".join(f"`{m.value}`" for m in enum)


def generated() -> list[str]:
    """Every block docs/mqtt.md must contain verbatim."""
    blocks = [topic_table()]
    seen: set[type[BaseModel]] = set()
    models: list[type[BaseModel]] = [*c.PAYLOAD_MODELS.values(), c.EventBatch, c.BoardHealth]
    for model in models:
        if model not in seen:
            seen.add(model)
            blocks.append(model_table(model))
    for enum in (c.UnitState, c.EventKind, c.RequestKind, c.CommandName, c.CommandStatus, c.NotificationKind):
        blocks.append(enum_list(enum))
    return blocks


def refresh(doc: str) -> str:
    """`doc` with each generated block replaced by today's (a block is found by its first line and ends at a blank line)."""
    for block in generated():
        head = block.splitlines()[0]
        if head.startswith("| leaf |"):
            start = doc.index(head)
        elif head.startswith("#### "):
            start = doc.index(head + "\n")
            end = doc.find("\n\n", doc.index("| field |", start))
            doc = doc[:start] + block + (doc[end:] if end >= 0 else "\n")
            continue
        else:  # an enumeration: "`Name`: ..." on one line of a list
            start = doc.index(head.split(":", 1)[0] + ":")
            end = doc.index("\n", start)
            doc = doc[:start] + block + doc[end:]
            continue
        end = doc.find("\n\n", start)
        doc = doc[:start] + block + (doc[end:] if end >= 0 else "\n")
    return doc


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write"]:
        path = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/mqtt.md")
        path.write_text(refresh(path.read_text()))
    else:
        print("\n\n".join(generated()))
