"""The benchmarks: each component measured against its named peer, with the machine stated.

Harness code, never imported by what runs on a Pi or the server: `passlane
bench` runs them all (each in its own process), `passlane bench <name>` one.
"""
