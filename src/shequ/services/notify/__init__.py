"""Notifications from one outbox: :func:`notify` writes an event's notification in the
event's own transaction; the dispatcher (:mod:`.dispatcher`) delivers it on the user's
channels (email, SMS, WeChat; in-app is the row itself) with leases, retries and a log.
"""
