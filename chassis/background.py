"""A service's background work (writing the request log, the staff API's cache housekeeping): a round
every few seconds in a thread of its own, and a last one when the app closes.

Any WSGI server a user picks must run it. A pre-fork server (uWSGI's master, gunicorn --preload)
builds the app, then forks its workers, and a fork does not carry threads into the child: so the
thread starts in the process that serves, at its first request (poke()). Some hosts run no app
thread between requests (uWSGI without --enable-threads): then a request that finds a round
overdue does it itself.
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
        self._pid = None  # the process whose thread runs the rounds
        self._last_round = time.monotonic()
        self._starting, self._round = threading.Lock(), threading.Lock()  # one start, and one round, at a time
        self._closing = threading.Event()

    def poke(self):
        """Called by each request: start the thread in this process if it has none, or do an overdue round."""
        if self._pid != os.getpid():
            with self._starting:
                if self._pid != os.getpid():
                    self._round = threading.Lock()  # a fork copies a lock as it was: maybe held
                    self._pid, self._thread = os.getpid(), threading.Thread(target=self._run, daemon=True)
                    self._thread.start()
        elif time.monotonic() - self._last_round > OVERDUE * self.interval and self._round.acquire(blocking=False):
            try:
                self._do_round(closing=False)
            finally:
                self._round.release()

    def close(self):
        """Stop the thread after its last round (or do that round here, if no thread runs)."""
        self._closing.set()
        if self._pid == os.getpid():
            self._thread.join()
        else:
            with self._round:
                self._do_round(closing=True)

    def _run(self):
        """The thread: a round every `interval`, and a last one when closing."""
        closing = False
        while not closing:
            closing = self._closing.wait(self.interval)
            with self._round:
                self._do_round(closing)

    def _do_round(self, closing):
        """One round of the job; a failed one is logged, and the next may succeed."""
        self._last_round = time.monotonic()
        try:
            self.job(closing)
        except Exception:
            log.exception("a background round failed")
