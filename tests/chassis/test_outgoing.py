"""Calls to another service (chassis/outgoing.py): one deadline for the whole answer, however the
server trickles it; no redirect followed; a size limit; and the time each thread waited, for the
request log. Real sockets on loopback. The staff API's client on top of it: test_cep_client_faults.py."""
import socket
import threading
import time

import pytest

from chassis import outgoing
from chassis.outgoing import DeadlineSocket, Unavailable

TIMEOUT = 0.5


def within_budget(elapsed, timeout=TIMEOUT):
    """The call ended because of its deadline, not because the server gave up (generous for slow CI)."""
    return elapsed < 2 * timeout + 0.5


def test_a_read_after_the_deadline_fails_even_with_data_waiting():
    near, far = socket.socketpair()
    with DeadlineSocket(fileno=near.detach()) as sock, far:
        far.sendall(b"late")
        sock.deadline = time.monotonic() - 0.001
        with pytest.raises(TimeoutError):
            sock.recv_into(bytearray(4))
        sock.deadline = time.monotonic() + TIMEOUT
        assert sock.recv_into(bytearray(4)) == 4


@pytest.fixture
def session():
    """A deadline session, closed when the test ends."""
    with outgoing.deadline_session() as made:
        yield made


def answering(status="200 OK", body=b"{}", headers=(), delay=0.0):
    """An `answer` sending one whole response after `delay` seconds."""
    def answer(conn, stopping):
        if delay and stopping.wait(delay):
            return
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
        conn.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    return answer


def trickling(conn, stopping):
    """Headers at once, then a body of 1,000 bytes, one every 0.1 s: each read is in time, the whole never."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        if stopping.wait(0.1):
            return
        conn.sendall(b" ")


def test_a_trickled_body_is_given_up_at_the_one_deadline(raw_server, session):
    slow = raw_server(trickling)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=f"did not answer within {TIMEOUT} s"):
        outgoing.get(session, slow.url + "/x", TIMEOUT, {}, 64 * 1024)
    assert within_budget(time.monotonic() - started)
    assert len(slow.heads) == 1  # asked once: no retry spent a second budget


def test_an_answer_is_read_whole_and_a_redirect_is_returned_not_followed(raw_server, session):
    target = raw_server(answering(body=b'{"found": true}'))
    redirecting = raw_server(answering("302 Found", b"", [f"Location: {target.url}/elsewhere"]))
    response, body = outgoing.get(session, target.url + "/x", TIMEOUT * 4, {"Accept": "application/json"}, 1024)
    assert (response.status_code, body) == (200, b'{"found": true}')
    assert b"\r\nAccept: application/json\r\n" in target.heads[0]
    response, body = outgoing.get(session, redirecting.url + "/x", TIMEOUT * 4, {}, 1024)
    assert response.status_code == 302 and response.headers["Location"] == f"{target.url}/elsewhere"
    assert len(target.heads) == 1  # the redirect's target was never asked


def test_a_body_over_the_limit_is_unavailable_and_one_at_the_limit_is_read(raw_server, session):
    at_the_limit = raw_server(answering(body=b"x" * 1024))
    over = raw_server(answering(body=b"x" * 1025))
    assert outgoing.get(session, at_the_limit.url, TIMEOUT * 4, {}, 1024)[1] == b"x" * 1024
    with pytest.raises(Unavailable, match="answered more than 1 KiB"):
        outgoing.get(session, over.url, TIMEOUT * 4, {}, 1024)


def test_nothing_listening_is_unavailable_at_once(session):
    from conftest import free_port

    started = time.monotonic()
    with pytest.raises(Unavailable, match="could not be reached"):
        outgoing.get(session, f"http://127.0.0.1:{free_port()}/x", TIMEOUT, {}, 1024)
    assert time.monotonic() - started < TIMEOUT  # refused: no wait for the deadline


def test_each_thread_counts_its_own_wait_from_its_last_reset(raw_server, session):
    slow = raw_server(answering(delay=0.2))
    outgoing.reset_wait()
    assert outgoing.waited_ms() is None  # no call yet: no wait, not a wait of 0
    outgoing.get(session, slow.url, 5, {}, 1024)
    first = outgoing.waited_ms()
    assert first >= 200
    with pytest.raises(Unavailable):  # a failed call is waited for too
        outgoing.get(session, slow.url, 0.05, {}, 1024)
    assert outgoing.waited_ms() >= first + 50
    elsewhere = []
    other = threading.Thread(target=lambda: elsewhere.append(outgoing.waited_ms()))
    other.start()
    other.join()
    assert elsewhere == [None]  # another thread (another request) waited for nothing
    outgoing.reset_wait()  # as the request log does when the next request begins
    assert outgoing.waited_ms() is None
