"""A service's background thread, that any WSGI server runs: also after a fork, also with no thread.

A fork (uWSGI's master, gunicorn --preload) carries no thread into the child: so the thread starts
at the first request of the process that serves, and a request that finds a round overdue (a host
that runs no thread between requests) does it itself.
"""
import logging
import os
import threading
import time

OVERDUE = 5  # intervals without a round before a request does one itself

log = logging.getLogger(__name__)


class Worker:
    """Runs `job(closing=False)` every `interval` seconds, and `job(closing=True)` once when closed."""

    def __init__(self, interval, job):
        self.interval, self.job = interval, job
        self._pid, self._last_round = None, time.monotonic()  # the process whose thread runs the rounds
        self._starting, self._closing = threading.Lock(), threading.Event()

    def poke(self):
        """Called by each request: start the thread in this process if it has none, or do an overdue round."""
        if self._pid != os.getpid():
            with self._starting:
                if self._pid != os.getpid():
                    self._round = threading.Lock()  # one round at a time (a fork copies a lock as it was: maybe held)
                    self._pid, self._thread = os.getpid(), threading.Thread(target=self._run, daemon=True)
                    self._thread.start()
        elif time.monotonic() - self._last_round > OVERDUE * self.interval and self._round.acquire(blocking=False):
            self._do_round(closing=False)

    def close(self):
        """Stop the thread after its last round (or do that round here, if no thread runs)."""
        self._closing.set()
        if self._pid == os.getpid():
            self._thread.join()
        else:
            self._round = threading.Lock()
            self._round.acquire()
            self._do_round(closing=True)

    def _run(self):
        """The thread: a round every `interval`, and a last one when closing."""
        closing = False
        while not closing:
            closing = self._closing.wait(self.interval)
            self._round.acquire()
            self._do_round(closing)

    def _do_round(self, closing):
        """One round of the job, the round lock held (let go here); a failed round is logged: the next may work."""
        self._last_round = time.monotonic()
        try:
            self.job(closing)
        except Exception:
            log.exception("a background round failed")
        finally:
            self._round.release()
