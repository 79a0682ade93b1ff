"""Plate issuer firmware: issues pairs of plates as jobs identified by a job id.

`IssuerLogic` is the pure core (sensor word and `now` in; mechanism calls on
the HAL, events and journal records out).  A repeated ISSUE with a job id
already in the journal never starts a second pair: it answers with that
job's current record.  The journal (the last JOURNAL_DEPTH jobs) is written
through the HAL at every job state change, so it survives a board reset;
a job that was in progress when the board reset becomes INTERRUPTED and is
never resumed automatically.

Mechanism, one plate at a time, two plates per job:
  feed blank from the magazine of the plate type -> plate at printer sensor
  print/stamp the text -> printer not busy (error bit = print failure)
  eject -> the exit beam is blocked and cleared = one plate in the tray
"""

from firmware import lanebus as lb
from firmware.event_queue import EventQueue
from firmware.link import BoardMain
from firmware.ticks import ticks_diff

PLATES_PER_JOB = 2
JOURNAL_DEPTH = 16
FEED_TIMEOUT_MS = 3000
PRINT_TIMEOUT_MS = 8000
PRINT_START_MS = 500  # the printer must report busy within this time
EJECT_TIMEOUT_MS = 3000

# HAL sensor word: the lanebus S_* bits (reported in STATUS), plus these,
# which only the board sees
S_PRINTER_BUSY = 16
S_PRINTER_ERROR = 32
MAGAZINE_SHIFT = 8  # bit (8 + plate_type) set = that magazine is empty
S_MAGAZINE_EMPTY = (1 << MAGAZINE_SHIFT, 1 << (MAGAZINE_SHIFT + 1), 1 << (MAGAZINE_SHIFT + 2))  # per plate type
EVENT_QUEUE_SIZE = 16

JOURNAL_FIELDS = (
    ("job_id", "str"),
    ("plate_type", "u8"),
    ("text", "str"),
    ("state", "u8"),
    ("plates_done", "u8"),
    ("fault", "u8"),
)
JOURNAL_MAGIC = b"PLJ1"


class Job:
    def __init__(self, job_id, plate_type, text):
        self.job_id = job_id
        self.plate_type = plate_type
        self.text = text
        self.state = lb.JOB_ACCEPTED
        self.plates_done = 0
        self.fault = lb.FAULT_NONE

    def record(self):
        return [self.job_id, self.plate_type, self.state, self.plates_done, self.fault]


def encode_journal(jobs):
    out = bytearray(JOURNAL_MAGIC)
    for j in jobs:
        rec = lb.pack_fields(JOURNAL_FIELDS, [j.job_id, j.plate_type, j.text, j.state, j.plates_done, j.fault])
        out.append(len(rec))
        out.extend(rec)
    return bytes(out)


def decode_journal(data):
    jobs = []  # type: list[Job]
    if not data or bytes(data[:4]) != JOURNAL_MAGIC:
        return jobs
    pos = 4
    while pos < len(data):
        n = data[pos]
        pos += 1
        try:
            v = lb.unpack_fields(JOURNAL_FIELDS, data[pos : pos + n])
        except lb.LaneBusError:
            break  # torn write: keep what was whole
        pos += n
        j = Job(v[0], v[1], v[2])
        j.state, j.plates_done, j.fault = v[3], v[4], v[5]
        jobs.append(j)
    return jobs


class IssuerLogic:
    kind = lb.KIND_PLATE_ISSUER

    def __init__(self, hal, now):
        self.hal = hal
        self.state = lb.ISSUER_IDLE
        self.fault = lb.FAULT_NONE
        self.sensors = 0
        self.host_link = 0
        self.job = None  # type: Job | None
        self.jobs = decode_journal(hal.journal_read())
        self._since = now
        self._exit_seen = False
        self._busy_seen = False
        # (type, a, b, c, job), drained by the shell: JOB_PROGRESS/JOB_DONE carry
        # the job's state, plates done and fault as they were when pushed
        self.events = EventQueue(EVENT_QUEUE_SIZE)
        for j in self.jobs:
            if j.state not in (lb.JOB_DONE, lb.JOB_INTERRUPTED):
                # the board reset in the middle of this job: never resume it
                # on our own (a plate may be half made); the host decides.
                j.state = lb.JOB_INTERRUPTED
                j.fault = lb.FAULT_RESET_DURING_JOB
                self.job = j
                self.state = lb.ISSUER_FAULT
                self.fault = lb.FAULT_RESET_DURING_JOB
        if self.job is not None:
            self._persist()
            self.events.push(lb.EV_FAULT, self.fault, 1, 0, self.job)

    # ------------------------------------------------------------ journal
    def _persist(self):
        self.hal.journal_write(encode_journal(self.jobs))

    def find(self, job_id):
        for j in self.jobs:
            if j.job_id == job_id:
                return j
        return None

    def _progress(self, ev=lb.EV_JOB_PROGRESS):
        job = self.job
        assert job is not None
        self._persist()
        self.events.push(ev, job.state, job.plates_done, job.fault, job)

    # ------------------------------------------------------------ commands
    def issue(self, job_id, plate_type, text, now):
        if not 1 <= len(job_id) <= lb.MAX_JOB_ID:
            return lb.E_BAD_FIELD, None, 0
        if plate_type >= len(lb.PLATE_TYPES):
            return lb.E_BAD_FIELD, None, 1
        if not 1 <= len(text) <= lb.MAX_TEXT:
            return lb.E_BAD_FIELD, None, 2
        old = self.find(job_id)
        if old is not None:
            if old.plate_type != plate_type or old.text != text:
                return lb.E_JOB_CONFLICT, None, 0
            return lb.OK, old.record(), 0  # a repeat: never a second pair
        if self.job is not None and self.job.state not in (lb.JOB_DONE, lb.JOB_INTERRUPTED):
            return lb.E_BUSY, None, 0
        if self.state == lb.ISSUER_FAULT:
            return lb.E_FAULTED, None, self.fault
        if self.sensors & lb.S_COVER_OPEN:
            return lb.E_COVER_OPEN, None, 0
        if self.sensors & S_MAGAZINE_EMPTY[plate_type]:
            return lb.E_MAGAZINE_EMPTY, None, plate_type
        job = Job(job_id, plate_type, text)
        self.jobs.append(job)
        while len(self.jobs) > JOURNAL_DEPTH:
            self.jobs.pop(0)
        self.job = job
        self._persist()
        self._start_feed(now)
        return lb.OK, job.record(), 0

    def job_status(self, job_id):
        j = self.find(job_id)
        if j is None:
            return lb.E_UNKNOWN_JOB, None, 0
        return lb.OK, j.record(), 0

    def clear_fault(self, now):
        if self.state != lb.ISSUER_FAULT:
            return lb.OK, [self.state, self.fault], 0
        if self.sensors & lb.S_COVER_OPEN:
            return lb.E_COVER_OPEN, None, 0
        job = self.job
        if job is not None and job.state == lb.JOB_PAUSED and self.sensors & S_MAGAZINE_EMPTY[job.plate_type]:
            return lb.E_MAGAZINE_EMPTY, None, job.plate_type
        old = self.fault
        self.fault = lb.FAULT_NONE
        self.state = lb.ISSUER_IDLE
        self.events.push(lb.EV_FAULT, old, 0, 0, job)
        if job is not None and job.state == lb.JOB_PAUSED:
            # the operator removed the jammed / spoiled blank: make the
            # plates still missing, never more
            job.fault = lb.FAULT_NONE
            self._start_feed(now)
        return lb.OK, [self.state, self.fault], 0

    # ------------------------------------------------------------ mechanism
    def _start_feed(self, now):
        job = self.job
        assert job is not None
        if self.sensors & S_MAGAZINE_EMPTY[job.plate_type]:
            self._fault(lb.FAULT_MAGAZINE_EMPTY)
            return
        self.state = lb.ISSUER_FEEDING
        job.state = lb.JOB_FEEDING
        self._since = now
        self.hal.start_feed(job.plate_type)
        self._progress()

    def _fault(self, fault):
        self.hal.stop_mechanism()
        self.state = lb.ISSUER_FAULT
        self.fault = fault
        job = self.job
        if job is not None and job.state not in (lb.JOB_DONE, lb.JOB_INTERRUPTED):
            job.state = lb.JOB_PAUSED
            job.fault = fault
            self._progress()
        self.events.push(lb.EV_FAULT, fault, 1, 0, job)

    def update(self, now, sensors):
        self.sensors = sensors
        st = self.state
        if st == lb.ISSUER_IDLE or st == lb.ISSUER_FAULT:
            return
        if sensors & lb.S_COVER_OPEN:
            self._fault(lb.FAULT_COVER_OPEN)
            return
        job = self.job
        assert job is not None
        elapsed = ticks_diff(now, self._since)
        if st == lb.ISSUER_FEEDING:
            if sensors & lb.S_PLATE_AT_PRINTER:
                self.state = lb.ISSUER_PRINTING
                job.state = lb.JOB_PRINTING
                self._since = now
                self._busy_seen = False
                self.hal.start_print(job.text)
                self._progress()
            elif elapsed > FEED_TIMEOUT_MS:
                self._fault(lb.FAULT_JAM)
        elif st == lb.ISSUER_PRINTING:
            if sensors & S_PRINTER_BUSY:
                self._busy_seen = True
            if sensors & S_PRINTER_ERROR:
                self._fault(lb.FAULT_PRINT_FAILURE)
            elif not self._busy_seen:
                if elapsed > PRINT_START_MS:
                    self._fault(lb.FAULT_PRINT_FAILURE)  # the printer never started
            elif not sensors & S_PRINTER_BUSY:
                self.state = lb.ISSUER_EJECTING
                job.state = lb.JOB_EJECTING
                self._since = now
                self._exit_seen = False
                self.hal.start_eject()
                self._progress()
            elif elapsed > PRINT_TIMEOUT_MS:
                self._fault(lb.FAULT_PRINT_FAILURE)
        elif st == lb.ISSUER_EJECTING:
            if sensors & lb.S_EXIT_BEAM:
                self._exit_seen = True
            elif self._exit_seen:
                job.plates_done += 1
                if job.plates_done >= PLATES_PER_JOB:
                    job.state = lb.JOB_DONE
                    self.state = lb.ISSUER_IDLE
                    self._progress(lb.EV_JOB_DONE)
                else:
                    self._start_feed(now)
            elif elapsed > EJECT_TIMEOUT_MS:
                self._fault(lb.FAULT_JAM)

    # ------------------------------------------------------------ lane bus
    def on_host_link(self, state, now):
        self.host_link = state
        self.events.push(lb.EV_HOST_LINK, state, 0, 0)

    def handle_command(self, mtype, vals, now):
        if mtype == lb.ISSUE:
            return self.issue(vals[0], vals[1], vals[2], now)
        if mtype == lb.JOB_STATUS:
            return self.job_status(vals[0])
        if mtype == lb.CLEAR_FAULT:
            return self.clear_fault(now)
        return lb.E_NOT_SUPPORTED, None, mtype

    def status_values(self, uptime_ms):
        job = self.job
        empty = (self.sensors >> MAGAZINE_SHIFT) & 0xFF
        return [
            uptime_ms,
            self.state,
            self.fault,
            self.sensors & 0x0F,
            empty,
            job.job_id if job else b"",
            job.state if job else 0,
            job.plates_done if job else 0,
        ]


def send_queued_events(logic, link, now):
    """Drain the core's event ring into the lane bus (this side may allocate)."""
    q = logic.events
    while len(q):
        t, a, b, c, job = q.pop()
        if t == lb.EV_JOB_PROGRESS or t == lb.EV_JOB_DONE:
            link.send_event(t, [job.job_id, job.plate_type, a, b, c], None, now)
        elif t == lb.EV_FAULT:
            link.send_event(t, [a, b, job.job_id if job is not None else b""], None, now)
        else:
            link.send_event(t, [a], None, now)


class PlateIssuer(BoardMain):
    """The plate issuer application on a HAL."""

    def __init__(self, hal):
        now = hal.ticks_ms()
        logic = IssuerLogic(hal, now)
        logic.sensors = hal.read_sensors()
        super().__init__(hal, logic, now)

    def sense(self, now):
        self.logic.update(now, self.hal.read_sensors())
        self.link.poll(now)

    def send_events(self, now):
        send_queued_events(self.logic, self.link, now)
