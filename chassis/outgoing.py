"""HTTP calls to another service, each within one wall-clock deadline (docs/architecture.md says why)."""
import socket
import threading
import time

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection

# Milliseconds each thread has waited on other services since reset_wait(), for the request log:
# a waitress thread serves one request at a time, so its wait is its current request's.
_wait = threading.local()


class Unavailable(Exception):
    """The other service gave no usable answer: down, too slow, or answering too much."""


def deadline_session():
    """A requests session whose http:// calls each have one deadline, and that ignores proxy variables."""
    session = requests.Session()  # one for the whole service: it keeps connections open
    session.trust_env = False  # HTTP_PROXY and the like must not send our calls elsewhere
    adapter = HTTPAdapter()  # its pool manager makes a DeadlineConnectionPool for each http:// host
    adapter.poolmanager.pool_classes_by_scheme = {"http": DeadlineConnectionPool, "https": urllib3.HTTPSConnectionPool}
    session.mount("http://", adapter)
    return session


def get(session, url, timeout, headers, max_bytes):
    """One GET of `url` within `timeout` seconds (a redirect is returned): (response, body bytes), or Unavailable."""
    started = time.perf_counter()
    try:
        response = session.get(url, headers=headers, timeout=urllib3.Timeout(total=timeout), stream=True,
                               allow_redirects=False)
        try:
            body = response.raw.read(max_bytes + 1)  # one byte more tells a body too big
        finally:
            response.close()  # a connection read to its end goes back to the pool, else is closed
    except (requests.Timeout, urllib3.exceptions.TimeoutError):  # the second one: in the body
        raise Unavailable(f"did not answer within {timeout} s")
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        raise Unavailable("could not be reached")
    finally:
        _wait.ms = (getattr(_wait, "ms", None) or 0.0) + (time.perf_counter() - started) * 1000
    if len(body) > max_bytes:
        raise Unavailable(f"answered more than {max_bytes // 1024} KiB")
    return response, body


def reset_wait():
    """Start counting this thread's wait afresh (the request log does it as a request begins)."""
    _wait.ms = None


def waited_ms():
    """Milliseconds this thread waited on other services since reset_wait(); None if it made no call."""
    waited = getattr(_wait, "ms", None)
    return None if waited is None else round(waited, 3)


# urllib3's Timeout(total=...) bounds connecting, then each read of the answer, not all of them: a
# server sending a byte every 0.3 s would keep a call, and a waitress thread, as long as it liked.
# DeadlineSocket gives all the reads of a call one deadline, with no thread to enforce it. Plain
# http:// only (over https, reads go through the TLS layer, which never calls recv_into()).
class DeadlineSocket(socket.socket):
    """A TCP socket whose reads all stop at `deadline` (a time.monotonic() value)."""

    def recv_into(self, buffer, nbytes=0, flags=0):
        """socket.recv_into, waiting no longer than what is left until the deadline."""
        # http.client reads the status line, the headers and the body through this one method.
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")  # what a socket timeout raises: urllib3 knows it
        self.settimeout(left)
        return super().recv_into(buffer, nbytes, flags)


class DeadlineConnection(HTTPConnection):
    """urllib3's HTTP connection, over a DeadlineSocket."""

    def _new_conn(self):
        """Connect as urllib3 does, then hand the connected socket over to a DeadlineSocket."""
        connected = super()._new_conn()
        sock = DeadlineSocket(fileno=connected.detach())  # the same connection, our class
        sock.settimeout(self.timeout)  # the timeout urllib3 had set: sending the request uses it
        return sock

    def getresponse(self):
        """Read the answer, all of it (the body too) by one deadline."""
        # urllib3 has just set `timeout` to what is left of the call's budget (it started before
        # connecting); every call sets its own deadline here, so a reused connection gets a new one.
        self.sock.deadline = time.monotonic() + self.timeout
        return super().getresponse()


class DeadlineConnectionPool(urllib3.HTTPConnectionPool):
    """urllib3's pool of http:// connections, making DeadlineConnections."""

    ConnectionCls = DeadlineConnection
