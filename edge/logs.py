"""One logging setup for the long-running processes: on journald with each line's level, elsewhere with a timestamp.

Under systemd the units' stderr goes to the journal (`StandardError=journal`, the default). journald files a line
at the syslog priority of a leading ``<N>`` (`SyslogLevelPrefix=`, on by default) and stamps it itself, so there
each line starts with its level's priority and carries no timestamp; `journalctl -p warning -u passlane-lane` then
shows only the warnings and worse. systemd says the stream is the journal through ``JOURNAL_STREAM``
(``device:inode`` of the stream), checked against stderr so that a child whose stderr was redirected elsewhere
does not print ``<N>`` prefixes into a file.
"""

from __future__ import annotations

import logging
import os
import sys

PLAIN_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
JOURNAL_FORMAT = "%(name)s %(levelname)s %(message)s"
# logging level -> syslog priority (sd-daemon(3)): 3 err, 4 warning, 5 notice, 6 info, 7 debug
PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (a custom level takes the next standard one up)."""
    for level in sorted(PRIORITY):
        if levelno <= level:
            return PRIORITY[level]
    return PRIORITY[logging.CRITICAL]


class JournalFormatter(logging.Formatter):
    """``<priority>name LEVEL message``; every line of a multi-line record (a traceback) keeps the priority."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def stderr_is_journal(env: dict[str, str] | None = None) -> bool:
    """Whether systemd connected this process's stderr to the journal (``JOURNAL_STREAM`` names stderr)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


def setup_logging(level: int) -> None:
    """The root logger at `level` on stderr, formatted for the journal when stderr is the journal."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if stderr_is_journal() else logging.Formatter(PLAIN_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
