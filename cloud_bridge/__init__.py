"""The cloud bridge: ingest, look-ups, plate numbers, payments, risk alerts and the ops dashboard."""
