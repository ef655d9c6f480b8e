"""A service's background thread: work that no request should wait for (writing the request log,
the staff API's cache housekeeping), done every few seconds, and once more when the app closes."""
import logging
import threading

log = logging.getLogger(__name__)


class Worker:
    """Runs `job()` every `interval` seconds in a thread of its own, and `job(closing=True)` once
    when closed, so that what it holds is written before the process ends."""

    def __init__(self, interval, job):
        """A worker for `job`, not running yet (start())."""
        self.interval, self.job = interval, job
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        """Start the thread."""
        self._thread.start()

    def close(self):
        """Stop the thread after its last round."""
        self._closing.set()
        self._thread.join()

    def _run(self):
        """The thread: a round every `interval`, and a last one when closing."""
        closing = False
        while not closing:
            closing = self._closing.wait(self.interval)
            try:
                self.job(closing)
            except Exception:  # a failed round must not end the thread: the next one may succeed
                log.exception("a background round failed")
