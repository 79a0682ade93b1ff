"""The partner reference registry: owners and vehicles loaded from a reference file, answered by the reference adapter."""

from __future__ import annotations

import json
from typing import Any

from cloud_bridge.store.engine import Engine


class PartnerRecords:
    """The `partner_owners` and `partner_vehicles` tables: each record kept whole (JSON), keyed by ID number and VIN."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, owners: list[dict[str, Any]], vehicles: list[dict[str, Any]]) -> tuple[int, int]:
        """Upsert owners by ID number and vehicles by VIN, in one transaction; returns how many of each."""
        with self.engine.tx() as cur:
            cur.many(
                "INSERT INTO partner_owners (id_number, name, record) VALUES (?, ?, ?) ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, record = excluded.record",
                [(o["id_number"], o["name"], json.dumps(o, ensure_ascii=False)) for o in owners],
            )
            cur.many(
                "INSERT INTO partner_vehicles (vin, id_number, booking_number, record) VALUES (?, ?, ?, ?) ON CONFLICT (vin) DO UPDATE SET "
                "id_number = excluded.id_number, booking_number = excluded.booking_number, record = excluded.record",
                [
                    (v["vin"], v.get("owner_id_number"), v.get("booking_number"), json.dumps(v, ensure_ascii=False))
                    for v in vehicles
                ],
            )
        return len(owners), len(vehicles)

    def owner(self, id_number: str) -> dict[str, Any] | None:
        with self.engine.tx(write=False) as cur:
            row = cur.one("SELECT record FROM partner_owners WHERE id_number = ?", (id_number,))
        return json.loads(row["record"]) if row else None

    def vehicles(
        self, *, id_number: str | None = None, booking_number: str | None = None, vin: str | None = None
    ) -> list[dict[str, Any]]:
        """Vehicles by VIN, else by booking number, else the owner's (by VIN order)."""
        with self.engine.tx(write=False) as cur:
            if vin:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE vin = ?", (vin,))
            elif booking_number:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE booking_number = ?", (booking_number,))
            else:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE id_number = ? ORDER BY vin", (id_number,))
        return [json.loads(r["record"]) for r in rows]
