"""A whole registration site on one machine: the simulated physical world and people.

Everything PassLane itself runs here for real (broker, bridge, lane
controllers, firmware on simulated boards, VIN reader); this package only
plays the parts of the world: vehicles arriving, owners and inspectors with
human durations, the payment provider, and the supervisor that starts and
stops the real processes. Used by `passlane demo`, the end-to-end, fault and
security tests, and the site benchmark.
"""
