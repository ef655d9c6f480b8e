"""A service's background thread, run by any WSGI server: after a fork too, and with no thread at all."""
# A fork (uWSGI's master, gunicorn --preload) carries no thread into the child: so the thread starts
# at the first request of the process that serves. Where app threads do not run between requests
# (uWSGI without --enable-threads, as on PythonAnywhere) there is no thread: a request does a due
# round itself. Anywhere else, a request does an overdue one.
import logging
import os
import threading
import time

OVERDUE = 5  # intervals without a round before a request does one itself

log = logging.getLogger(__name__)


def app_threads_run():
    """False under a uWSGI without threads (before 2.0.27, without --enable-threads): its app threads run only
    while a request does, and one stopped in the middle of a write would hold the database's lock."""
    try:
        import uwsgi  # importable only inside uWSGI
    except ImportError:
        return True
    return bool(uwsgi.has_threads)


class Worker:
    """Runs `job(closing=False)` every `interval` seconds, and `job(closing=True)` once when closed."""

    def __init__(self, interval, job):
        self.interval, self.job, self.threaded = interval, job, app_threads_run()
        self._pid, self._last_round = None, time.monotonic()  # the process whose thread runs the rounds
        self._starting, self._round, self._closing = threading.Lock(), threading.Lock(), threading.Event()

    def poke(self):
        """Called by each request: start the thread in this process if it has none, or do a round that is due."""
        if self._pid != os.getpid():
            with self._starting:
                if self._pid != os.getpid():
                    self._pid, self._round = os.getpid(), threading.Lock()  # a fork copies a lock as it was: held?
                    if self.threaded:
                        self._thread = threading.Thread(target=self._run, daemon=True)
                        self._thread.start()
        due = OVERDUE * self.interval if self.threaded else self.interval
        if time.monotonic() - self._last_round > due and self._round.acquire(blocking=False):
            self._do_round(closing=False)

    def close(self):
        """Stop the thread after its last round (or do that round here, if no thread runs here)."""
        self._closing.set()
        if self.threaded and self._pid == os.getpid():
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
