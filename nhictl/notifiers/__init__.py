"""Notifications: tell people, where they already look, what changed since the last time.

* :mod:`~nhictl.notifiers.config`: ``[[notify]]`` targets (secrets by env variable name);
* :mod:`~nhictl.notifiers.digest`: the news for one target, and what it was told;
* :mod:`~nhictl.notifiers.payload`: Slack Block Kit + text fallback, webhook JSON;
* :mod:`~nhictl.notifiers.base`: the transport Protocol and the retry rule;
* :mod:`~nhictl.notifiers.slack`, :mod:`~nhictl.notifiers.webhook`: the transports;
* :mod:`~nhictl.notifiers.service`: compute, deliver, record.

This package is imported by config loading: keep heavy imports inside the submodules.
"""
