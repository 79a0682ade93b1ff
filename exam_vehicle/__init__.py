"""The exam vehicle: the unit on a driver-exam test car that judges the field test (科目二) by itself.

It reads its RTK GNSS receiver (`exam_vehicle.gnss`) and the car's signals
(the vehicle board, over the lane bus), judges the candidate with the pure
judge against a surveyed course and a car model, announces items and
deductions in the car, keeps the raw track, and reports to the cloud bridge
on the same edge runtime as a lane (config, MQTT session, durable outbox,
telemetry, remote commands).

Every input the judge sees is stamped once, on arrival, with the unit's clock
(`t`, unix seconds) and kept in that order in the track (`exam_vehicle.track`):
judging a recorded track replays the same inputs in the same order, so the
car's result and the replay's are the same.
"""
