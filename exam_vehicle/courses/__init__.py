"""Surveyed exam courses shipped with PassLane (GeoJSON) and the script that generates the example one."""
