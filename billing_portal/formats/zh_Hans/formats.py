# One date format in both languages (docs/decisions.md, "Language"): ISO-like
# dates and 24-hour times with the zone's abbreviation, as in 2026-12-01 00:30 CST.
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
