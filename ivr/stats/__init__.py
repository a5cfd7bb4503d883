"""Anonymous call statistics: hourly aggregates, reports, a dashboard and metrics.

Nothing here may slow or break a call. The request path only counts in memory
(:mod:`ivr.stats.recorder`); a background writer stores batches of aggregates
(:mod:`ivr.stats.store`), and any failure there drops statistics, never a call.
"""
