"""Log lines reach journald with their level (a `<N>` syslog prefix) when systemd says stderr is the journal."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from edge.logs import JournalFormatter, syslog_priority

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import logging
from edge.logs import setup_logging
setup_logging(logging.INFO)
log = logging.getLogger("passlane.lane")
log.info("board online")
log.warning("plate issuer jammed")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("step failed")
"""


def run_with_stderr_to(path: Path, journal_stream: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with path.open("wb") as err:
        subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, env=env, stderr=err, check=True, timeout=60)
    return path.read_text()


def test_levels_map_to_syslog_priorities() -> None:
    assert [syslog_priority(x) for x in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]
    assert syslog_priority(25) == 4 and syslog_priority(60) == 2  # between levels: the next one up


def test_every_line_of_a_traceback_keeps_its_priority() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        record = logging.LogRecord("passlane", logging.ERROR, __file__, 1, "read failed", None, sys.exc_info())
    lines = JournalFormatter().format(record).splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[0] == "<3>passlane ERROR read failed"


def test_a_process_whose_stderr_is_the_journal_prefixes_each_line_with_its_priority(tmp_path: Path) -> None:
    err = tmp_path / "stderr"
    err.touch()
    st = err.stat()
    out = run_with_stderr_to(err, f"{st.st_dev}:{st.st_ino}")
    lines = out.splitlines()
    assert lines[0] == "<6>passlane.lane INFO board online"
    assert lines[1] == "<4>passlane.lane WARNING plate issuer jammed"
    assert lines[2] == "<3>passlane.lane ERROR step failed" and all(x.startswith("<3>") for x in lines[2:])


def test_elsewhere_the_lines_carry_a_timestamp_and_no_prefix(tmp_path: Path) -> None:
    for stream in (None, "1:2", "garbage"):  # no journal, or a JOURNAL_STREAM naming another stream
        out = run_with_stderr_to(tmp_path / "stderr", stream)
        assert not out.startswith("<") and " passlane.lane WARNING plate issuer jammed" in out, out
