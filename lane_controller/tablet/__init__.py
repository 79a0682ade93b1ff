"""The inspector tablet, split by area: sign-in and sessions, pages, lane and case API, case files, the change stream.

``lane_controller.web.create_app`` assembles the routers; each route only translates HTTP to a call on the
:class:`~lane_controller.runtime.Lane` (which owns every business rule). What comes from outside is checked
at the boundary (``bodies``) before the lane sees it.
"""
