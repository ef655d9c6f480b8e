"""A service's background thread (chassis/background.py), that any WSGI server runs: started at the
first request of the process that serves (a fork carries no thread), a round every interval and a
last one at close, a failed round logged, and a round done by a request itself where the thread
does not run between requests, or where there is none (uWSGI without threads)."""
import os
import sys
import threading
import time
import types
import warnings

from chassis import background
from chassis.background import Worker


class Rounds:
    """A job that records each round: (closing, process id, thread id); `hold` seconds each."""

    def __init__(self, hold=0.0, fail_first=False):
        self.calls, self.times, self.hold, self.fail_first = [], [], hold, fail_first

    def __call__(self, closing):
        self.calls.append((closing, os.getpid(), threading.get_ident()))
        self.times.append(time.monotonic())
        if self.hold:
            time.sleep(self.hold)
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("the database is locked")

    def in_this_process(self):
        return [call for call in self.calls if call[1] == os.getpid()]


def poll(condition, seconds=10.0):
    """Call condition() until it returns something true, or `seconds` have passed; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return value


def test_the_thread_starts_at_the_first_request_runs_every_interval_and_a_last_round_at_close():
    job, threads = Rounds(), threading.active_count()
    worker = Worker(0.01, job)
    assert threading.active_count() == threads and job.calls == []  # nothing runs before a request
    worker.poke()
    worker.poke()  # one thread, however many requests
    assert threading.active_count() == threads + 1
    assert poll(lambda: len(job.calls) >= 3), job.calls
    assert {(closing, pid) for closing, pid, _ in job.calls} == {(False, os.getpid())}
    assert threading.get_ident() not in {ident for _, _, ident in job.calls}  # not on the request's thread
    worker.close()
    assert [closing for closing, _, _ in job.calls].count(True) == 1 and job.calls[-1][0] is True
    assert threading.active_count() == threads


def test_a_failed_round_is_logged_and_the_next_one_runs(caplog):
    job = Rounds(fail_first=True)
    worker = Worker(0.01, job)
    worker.poke()
    assert poll(lambda: len(job.calls) >= 2), job.calls
    worker.close()
    assert "a background round failed" in caplog.text and "the database is locked" in caplog.text
    assert job.calls[-1][0] is True


def test_a_request_never_waits_for_the_round_the_thread_is_doing():
    release, started = threading.Event(), threading.Event()

    def long_round(closing):
        started.set()
        if not closing:
            release.wait(10)

    worker = Worker(0.01, long_round)
    worker.poke()
    assert started.wait(10)
    time.sleep(background.OVERDUE * 0.01 * 2)  # the round is long overdue by now
    request = threading.Thread(target=worker.poke)  # what a request does, in a thread of its own
    request.start()
    request.join(timeout=5)
    assert not request.is_alive(), "a request waited for the background thread's round"
    release.set()
    worker.close()


class HeldThread:
    """A thread the host never runs between requests (uWSGI without --enable-threads): started, it
    runs only when the process waits for it, at close()."""

    def __init__(self, target, daemon):
        self.target = target

    def start(self):
        pass

    def join(self):
        self.target()


def test_where_the_thread_does_not_run_a_request_does_the_overdue_round_itself(monkeypatch):
    monkeypatch.setattr(background, "threading", types.SimpleNamespace(
        Thread=HeldThread, Lock=threading.Lock, Event=threading.Event))
    job, interval = Rounds(), 0.05
    started = time.monotonic()
    worker = Worker(interval, job)
    worker.poke()  # "starts" the thread, which will not run
    worker.poke()
    if time.monotonic() - started < background.OVERDUE * interval:  # not overdue yet: no round
        assert job.calls == []
    assert poll(lambda: worker.poke() or job.calls), "no request did the overdue round"
    assert job.calls == [(False, os.getpid(), threading.get_ident())]  # by the request, in its own thread
    assert job.times[0] - started >= background.OVERDUE * interval  # overdue: not merely due
    after = time.monotonic()
    worker.poke()
    if time.monotonic() - after < background.OVERDUE * interval:  # just done: not overdue again
        assert len(job.calls) == 1
    worker.close()  # the process waits for the thread: it does the last round
    assert job.calls[-1][0] is True and [closing for closing, _, _ in job.calls].count(True) == 1


def test_under_a_uwsgi_without_threads_no_thread_starts_and_each_due_round_is_a_requests(monkeypatch):
    """uWSGI runs app threads only while a request does (has_threads false): a thread stopped in the
    middle of a write would hold the database's lock, so there is none, and requests do every round."""
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(has_threads=False))  # as inside uWSGI
    job, interval, threads = Rounds(), 0.05, threading.active_count()
    started = time.monotonic()
    worker = Worker(interval, job)
    worker.poke()
    assert threading.active_count() == threads  # no thread, ever
    assert poll(lambda: worker.poke() or job.calls), "no request did the due round"
    assert job.calls == [(False, os.getpid(), threading.get_ident())]
    assert job.times[0] - started >= interval  # due after one interval, not OVERDUE of them
    worker.close()  # no thread to wait for: the last round is done here
    assert job.calls[-1] == (True, os.getpid(), threading.get_ident())
    assert threading.active_count() == threads
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(has_threads=True))  # --enable-threads
    assert Worker(interval, job).threaded is True


def test_a_forked_process_starts_a_thread_of_its_own_and_closes_without_one():
    """A real fork (uWSGI's master, gunicorn --preload), taken while the parent's thread holds its
    round lock: the child must not inherit a held lock, nor believe the parent's thread is its own."""
    job = Rounds(hold=0.02)  # the parent's thread holds the round lock most of the time
    worker, idle = Worker(0.005, job), Worker(0.005, job)  # idle: the child's first request never comes
    worker.poke()
    assert poll(lambda: len(job.calls) >= 2)
    reading, writing = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12 warns of fork() with threads
        pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            os.close(reading)
            assert job.in_this_process() == []
            time.sleep(0.1)
            assert job.in_this_process() == [], "a round ran in the child before any request"
            worker.poke()  # its first request
            assert poll(lambda: job.in_this_process()), "the child's thread never ran a round"
            worker.close()
            assert [closing for closing, _, _ in job.in_this_process()].count(True) == 1
            idle.close()  # no thread in this process: close() does the last round itself
            assert job.in_this_process()[-1][:2] == (True, os.getpid())
            assert job.in_this_process()[-1][2] == threading.get_ident()
            os.write(writing, b"ok")
        except BaseException as error:  # noqa: B036 (anything, reported to the parent)
            os.write(writing, repr(error).encode()[:1000])
        finally:
            os._exit(0)
    os.close(writing)
    try:
        deadline = time.monotonic() + 30
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child hung: a lock held at the fork?")
            time.sleep(0.01)
        report = os.read(reading, 1000)
    finally:
        os.close(reading)
    worker.close()
    assert report == b"ok", report.decode()
    assert [closing for closing, pid_, _ in job.calls if pid_ == os.getpid()].count(True) == 1  # the parent's own
