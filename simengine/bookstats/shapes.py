"""The shapes of the season and the onboarding ramp: the fit's coordinates and the simulation's
tables follow them.

The seasonal profile is one log effect per month of the year (:data:`MONTHS_OF_YEAR`, January
first; month number ``t`` is month of year ``t % 12``), per segment.  The onboarding ramp is a
table of ``log ramp(k)`` over tenures ``k = 0 .. RAMP_FIT_MONTHS``, 0 from then on.
"""

__all__ = ["MONTHS_OF_YEAR", "RAMP_FIT_MONTHS"]

#: Months of tenure the onboarding ramp spans: usage is ``exp(log_ramp(k))`` of its plateau at
#: tenure ``k``, ``log_ramp`` non-decreasing and 0 from this month on.  Onboarding is the first
#: months of an account's life (the seeds' day 1/30/90/180 checkpoints); a year holds it with room
#: to spare, and the drift is then what accounts past their first year do.
RAMP_FIT_MONTHS = 12

#: Coordinate of the monthly seasonal profile ``season`` (January first).
MONTHS_OF_YEAR = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]
