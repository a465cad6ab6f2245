"""The API-only back-end: stores the logical model and programs nothing.

Useful for API tests, for clients' development, and to run qnet without switches. It records the
changes it was told about (bounded), so tests and operators can see what a real back-end would get.
"""
import collections
import logging

from controller.plugin import Plugin

LOG = logging.getLogger(__name__)


class NoopPlugin(Plugin):
    name = "noop"

    def __init__(self, history=1000):
        self.changes = collections.deque(maxlen=history)

    def notify(self, change):
        LOG.debug("%s %s", change.hook, change.subject.id)
        self.changes.append(change)
