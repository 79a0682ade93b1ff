"""One plate kind with one fuel mapping: the lane and the bridge agree on every fuel type."""

from __future__ import annotations

import pytest

from edge.contract import NEW_ENERGY_FUELS, PlateKind, plate_kind_for_fuel
from lane_controller.case import normalise_partner_answer


@pytest.mark.parametrize("fuel", sorted(NEW_ENERGY_FUELS) + ["EV", " Battery-Electric "])
def test_every_new_energy_fuel_gives_the_lane_a_green_plate(fuel: str) -> None:
    answer = {"owner": {}, "vehicles": [{"vin": "LSVAU218XN2183294", "certificate": {"fuel_type": fuel}}]}
    records = normalise_partner_answer(answer)
    assert records["vehicle"]["certificate"]["new_energy"] is True
    assert plate_kind_for_fuel(fuel) is PlateKind.NEW_ENERGY and PlateKind.NEW_ENERGY.colour == "green"


@pytest.mark.parametrize("fuel", ["petrol", "diesel", "hybrid", "", None])
def test_other_fuels_give_an_ordinary_blue_plate(fuel: str | None) -> None:
    answer = {"owner": {}, "vehicles": [{"vin": "LSVAU218XN2183294", "certificate": {"fuel_type": fuel}}]}
    assert normalise_partner_answer(answer)["vehicle"]["certificate"]["new_energy"] is False
    assert plate_kind_for_fuel(fuel) is PlateKind.ORDINARY and PlateKind.ORDINARY.colour == "blue"


def test_the_bridges_plate_kind_wins_over_the_fuel_type() -> None:
    answer = {
        "owner": {},
        "vehicles": [{"vin": "LSVAU218XN2183294", "plate_kind": "new-energy", "certificate": {"fuel_type": "unknown"}}],
    }
    assert normalise_partner_answer(answer)["vehicle"]["certificate"]["new_energy"] is True
