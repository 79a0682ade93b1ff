"""A case's files (its photos and VIN crops): only files inside that case's own photo folder are served.

The old check compared string prefixes of resolved paths with the case id from the URL, so a case id of
``..`` served the PIN file, the config and the journal, and ``photos/<case>-x/`` passed as ``photos/<case>``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse

from edge.typed_routes import Router
from lane_controller.tablet.bodies import CaseId, FilePath
from lane_controller.tablet.deps import Actor, LaneDep
from lane_controller.tablet.errors import TabletError

router = Router()


def case_file(data_dir: Path, case_id: str, relative: str) -> Path | None:
    """The file ``relative`` (to the lane's data folder, as the case view gives it: ``photos/<case>/<name>``) if it
    lies inside ``photos/<case_id>`` once every ``..`` and symlink is resolved; else None."""
    if "\x00" in relative:
        return None
    try:
        folder = (data_dir / "photos" / case_id).resolve()
        target = (data_dir / relative).resolve()
        return target if target.is_relative_to(folder) and target != folder and target.is_file() else None
    except (OSError, RuntimeError, ValueError):  # too long a name, a symlink loop
        return None


@router.get("/api/cases/{case_id}/files/{path:path}")
async def get_case_file(case_id: CaseId, path: FilePath, lane: LaneDep, _: Actor) -> FileResponse:
    if case_id not in lane.cases and lane.journal.case(case_id) is None:
        raise TabletError(404, "err_no_such_file")
    target = case_file(lane.data_dir, case_id, path)
    if target is None:
        raise TabletError(404, "err_no_such_file")
    return FileResponse(target)
