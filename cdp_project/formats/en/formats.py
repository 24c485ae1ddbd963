"""How the console shows dates and times: day month year, 24-hour clock, with the time
zone (e.g. "1 Dec 2026, 09:40 UTC"), so nobody has to guess what "9:40 a.m." means."""

DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "j M Y, H:i T"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i T"
