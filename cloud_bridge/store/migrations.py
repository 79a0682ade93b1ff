"""The schema: one list of migrations for both engines, applied in order and recorded in `schema_migrations`.

A migration is SQL both engines accept; `{pk_auto}` is the engine's auto-increment key.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import time

from cloud_bridge.store.engine import Engine

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE events (
  unit TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
  kind TEXT NOT NULL, case_id TEXT, station TEXT, actor TEXT, data TEXT NOT NULL,
  received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (unit, seq));
CREATE INDEX events_case ON events (case_id);
CREATE TABLE unfolded (unit TEXT NOT NULL, seq BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (unit, seq));
CREATE TABLE units (
  unit TEXT PRIMARY KEY, site TEXT NOT NULL, role TEXT, state TEXT, software TEXT,
  last_status_at DOUBLE PRECISION, last_seen_at DOUBLE PRECISION, acked_seq BIGINT NOT NULL DEFAULT 0,
  max_seq BIGINT NOT NULL DEFAULT 0, stored BIGINT NOT NULL DEFAULT 0, duplicates BIGINT NOT NULL DEFAULT 0,
  gaps BIGINT NOT NULL DEFAULT 0, out_of_order BIGINT NOT NULL DEFAULT 0, telemetry TEXT,
  telemetry_at DOUBLE PRECISION, stage TEXT, outbox_depth BIGINT, boards_offline TEXT);
CREATE TABLE dead_letters (
  id {pk_auto}, topic TEXT NOT NULL, unit TEXT, reason TEXT NOT NULL, payload TEXT NOT NULL,
  size BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL);
CREATE TABLE cases (
  case_id TEXT PRIMARY KEY, unit TEXT, site TEXT, opened_at DOUBLE PRECISION, admitted_at DOUBLE PRECISION,
  first_item_at DOUBLE PRECISION, inspected_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, outcome TEXT,
  stage TEXT, stage_since DOUBLE PRECISION, vin TEXT, cert_vin TEXT, plate TEXT, owner_name TEXT,
  id_number TEXT, paid INTEGER NOT NULL DEFAULT 0, vin_image TEXT, events BIGINT NOT NULL DEFAULT 0,
  stage_times TEXT NOT NULL DEFAULT '{}');
CREATE INDEX cases_vin ON cases (vin);
CREATE INDEX cases_plate ON cases (plate);
CREATE INDEX cases_closed ON cases (closed_at);
CREATE TABLE partner_owners (
  id_number TEXT PRIMARY KEY, name TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE partner_vehicles (
  vin TEXT PRIMARY KEY, id_number TEXT, booking_number TEXT, record TEXT NOT NULL);
CREATE INDEX partner_vehicles_owner ON partner_vehicles (id_number);
CREATE INDEX partner_vehicles_booking ON partner_vehicles (booking_number);
CREATE TABLE plates (
  number TEXT PRIMARY KEY, authority TEXT NOT NULL, plate_kind TEXT NOT NULL, status TEXT NOT NULL,
  case_id TEXT, unit TEXT, reserved_at DOUBLE PRECISION, reserved_until DOUBLE PRECISION,
  issued_at DOUBLE PRECISION, notified INTEGER NOT NULL DEFAULT 0);
CREATE INDEX plates_case ON plates (case_id);
CREATE TABLE payments (
  payment_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, unit TEXT NOT NULL, site TEXT NOT NULL,
  amount_cents BIGINT NOT NULL, items TEXT NOT NULL, status TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, paid_at DOUBLE PRECISION);
CREATE INDEX payments_case ON payments (case_id);
CREATE TABLE payment_nonces (nonce TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL);
CREATE TABLE commands (
  request_id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, command TEXT NOT NULL,
  args TEXT NOT NULL, issued_by TEXT NOT NULL, reason TEXT NOT NULL, issued_at DOUBLE PRECISION NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, detail TEXT, result_at DOUBLE PRECISION);
CREATE TABLE alerts (
  id {pk_auto}, dedup_key TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, site TEXT,
  unit TEXT, case_id TEXT, title TEXT NOT NULL, detail TEXT NOT NULL, count BIGINT NOT NULL,
  first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL, status TEXT NOT NULL,
  acked_by TEXT, acked_at DOUBLE PRECISION, resolved_by TEXT, resolved_at DOUBLE PRECISION);
CREATE UNIQUE INDEX alerts_open_key ON alerts (dedup_key) WHERE resolved_at IS NULL;
CREATE TABLE inspector_stats (
  inspector TEXT PRIMARY KEY, inspections BIGINT NOT NULL DEFAULT 0, vin_corrections BIGINT NOT NULL DEFAULT 0);
CREATE TABLE login_failures (id {pk_auto}, who TEXT NOT NULL, source TEXT, ts DOUBLE PRECISION NOT NULL);
CREATE INDEX login_failures_who ON login_failures (who, ts);
CREATE TABLE audit (
  id BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE api_tokens (
  token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, label TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""",
    ),
    (
        2,
        """
ALTER TABLE events ADD COLUMN prev TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
CREATE TABLE event_conflicts (
  id {pk_auto}, unit TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL, stored_hash TEXT, hash TEXT NOT NULL, prev TEXT,
  payload TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL);
CREATE UNIQUE INDEX event_conflicts_version ON event_conflicts (unit, seq, hash);
ALTER TABLE units ADD COLUMN conflicts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN chain_breaks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN dead_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN seq BIGINT;
ALTER TABLE dead_letters ADD COLUMN sha256 TEXT;
ALTER TABLE dead_letters ADD COLUMN kept BIGINT;
ALTER TABLE dead_letters ADD COLUMN encoding TEXT NOT NULL DEFAULT 'utf-8';
CREATE TABLE dead_letter_budget (unit TEXT NOT NULL, hour BIGINT NOT NULL, n BIGINT NOT NULL, bytes BIGINT NOT NULL, PRIMARY KEY (unit, hour));
CREATE TABLE plate_offers (
  case_id TEXT NOT NULL, number TEXT NOT NULL, unit TEXT NOT NULL, offered_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (case_id, number));
CREATE INDEX plate_offers_time ON plate_offers (offered_at);
CREATE TABLE case_requests (case_id TEXT NOT NULL, kind TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (case_id, kind));
ALTER TABLE audit ADD COLUMN mac TEXT;
""",
    ),
    (
        3,
        """
CREATE TABLE exam_candidates (
  candidate_id TEXT PRIMARY KEY, site TEXT NOT NULL, name TEXT NOT NULL, id_number TEXT NOT NULL,
  licence_class TEXT NOT NULL, booked_at DOUBLE PRECISION NOT NULL, checked_in_at DOUBLE PRECISION,
  status TEXT NOT NULL, car TEXT, exam_id TEXT, created_at DOUBLE PRECISION NOT NULL);
CREATE UNIQUE INDEX exam_candidates_booking ON exam_candidates (site, id_number, booked_at);
CREATE INDEX exam_candidates_day ON exam_candidates (booked_at);
CREATE INDEX exam_candidates_exam ON exam_candidates (exam_id);
CREATE TABLE exams (
  exam_id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, candidate_id TEXT, candidate TEXT,
  car TEXT, course TEXT, rules_version TEXT, started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION,
  status TEXT NOT NULL, score BIGINT, reason TEXT, ended_by TEXT, worst_quality TEXT, item TEXT,
  track_state TEXT NOT NULL DEFAULT 'pending', track_sha256 TEXT, signed_by TEXT, signed_at DOUBLE PRECISION,
  sign_note TEXT, override TEXT, updated_at DOUBLE PRECISION NOT NULL);
CREATE INDEX exams_started ON exams (started_at);
CREATE INDEX exams_updated ON exams (updated_at);
CREATE INDEX exams_unit ON exams (unit);
CREATE TABLE exam_deductions (
  exam_id TEXT NOT NULL, seq BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL, item TEXT, rule_id TEXT NOT NULL,
  points BIGINT NOT NULL DEFAULT 0, fail INTEGER NOT NULL DEFAULT 0, wording TEXT, e DOUBLE PRECISION,
  n DOUBLE PRECISION, lat DOUBLE PRECISION, lon DOUBLE PRECISION, PRIMARY KEY (exam_id, seq));
CREATE TABLE exam_item_results (
  exam_id TEXT NOT NULL, item TEXT NOT NULL, started_at DOUBLE PRECISION, ended_at DOUBLE PRECISION,
  completed INTEGER, points_lost BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (exam_id, item));
CREATE TABLE exam_tracks (
  exam_id TEXT PRIMARY KEY, gz TEXT NOT NULL, bytes BIGINT NOT NULL, sha256 TEXT NOT NULL);
""",
    ),
    (
        4,
        """
ALTER TABLE alerts ADD COLUMN code TEXT;
ALTER TABLE alerts ADD COLUMN params TEXT;
ALTER TABLE alerts ADD COLUMN cleared TEXT;
""",
    ),
]


def migrate(engine: Engine) -> int:
    """Apply the migrations this database has not had yet (under a lock: workers may start together); returns how many."""
    with engine.tx() as cur:
        engine.lock(cur, "migrate")
        cur.x(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {r["version"] for r in cur.q("SELECT version FROM schema_migrations")}
        applied = 0
        for version, script in MIGRATIONS:
            if version in done:
                continue
            for stmt in script.replace("{pk_auto}", engine.pk_auto).split(";"):
                if stmt.strip():
                    cur.x(stmt)
            cur.x("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, time.time()))
            applied += 1
    return applied


def schema_version(engine: Engine) -> int:
    """The newest migration applied (`/healthz`, `init-db`)."""
    with engine.tx(write=False) as cur:
        return int(cur.scalar("SELECT MAX(version) AS v FROM schema_migrations") or 0)
