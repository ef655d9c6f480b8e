"""How the staff API talks to the CEP API: one GET within one deadline, its answer checked (for cep_cache.py)."""
import json
import re
import socket
import threading
import time

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection

RECORD_FIELDS = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge")
MAX_TEXT_LENGTH = 200  # as the CEP API allows
UF_PATTERN = re.compile("[A-Z]{2}")
IBGE_PATTERN = re.compile("([0-9]{7})?")  # the IBGE code is optional: "" or 7 digits
# Control characters (C0, DEL, C1) and lone UTF-16 surrogates: the CEP API never stores them.
NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_BODY_BYTES = 64 * 1024  # a record is a few hundred bytes: a bigger answer is not the CEP API's
HEALTH_PROBE_INTERVAL = 5.0  # seconds during which /health reuses the last probe's answer
# Milliseconds each thread has waited on the CEP API since reset_wait(), for the request log:
# a waitress thread serves one request at a time, so its wait is its current request's.
_wait = threading.local()


class CepServiceUnavailable(Exception):
    """The CEP API could not give an answer: down, too slow, failing, or answering nonsense."""


class CepApiClient:
    """Calls the CEP API over HTTP, each call within one deadline of `timeout` seconds."""

    def __init__(self, base_url, timeout, session=None):
        self.base_url = base_url.rstrip("/")
        # `total` bounds connecting and each read; DeadlineSocket makes the reads share one deadline.
        self.timeout = urllib3.Timeout(total=timeout)
        if session is None:  # an injected session (deploy/pythonanywhere) is used as it is given
            session = requests.Session()  # one for the whole service: it keeps connections open
            session.trust_env = False  # HTTP_PROXY and the like must not send our calls elsewhere
            session.mount("http://", DeadlineAdapter())
        self.session = session
        self._up, self._probed_at = False, float("-inf")  # no /health probe yet: one is due
        self._probe_lock = threading.Lock()  # held by the one thread probing /health

    def fetch(self, cep, etag=""):
        """GET /ceps/{cep}, conditional when we hold an ETag: (status, record, etag) or CepServiceUnavailable."""
        # 200: found, with the record and its ETag; 304: our ETag is still right; 404: no such CEP.
        response, body = self._get(f"/ceps/{cep}", etag)
        status = response.status_code
        if status == 200:
            record = json_or_none(body)
            if not is_record_of(record, cep):
                raise CepServiceUnavailable("The CEP API answered something that is not the CEP record asked for")
            # Only the seven fields: anything else it sent is neither stored nor served.
            return 200, {name: record[name] for name in RECORD_FIELDS}, response.headers.get("ETag", "")
        if (status == 304 and etag) or (status == 404 and is_cep_api_not_found(response, body)):
            return status, None, ""
        if status == 404:  # some other server's 404 says nothing about the CEP: never cached as "no such CEP"
            raise CepServiceUnavailable("The CEP API answered 404 for the address itself (is CEP_API_URL right?)")
        raise CepServiceUnavailable(f"The CEP API answered {status}")

    def is_up(self):
        """True when the last probe of the CEP API's /health got a 200; never raises, never waits.

        At most one probe every HEALTH_PROBE_INTERVAL seconds, and while one thread probes, the
        others get the last answer at once (False until the first probe has finished): monitors
        poll /health, and a slow CEP API must not tie up every waitress thread.
        """
        if self._probe_due() and self._probe_lock.acquire(blocking=False):
            try:
                if self._probe_due():  # another thread may have probed meanwhile
                    self._up = self._probe()
                    self._probed_at = time.monotonic()
            finally:
                self._probe_lock.release()
        return self._up

    def _probe_due(self):
        """True when the last probe is HEALTH_PROBE_INTERVAL seconds old or more."""
        return time.monotonic() - self._probed_at >= HEALTH_PROBE_INTERVAL

    def _probe(self):
        """GET /health once: True for a 200."""
        try:
            return self._get("/health")[0].status_code == 200
        except CepServiceUnavailable:
            return False

    def _get(self, path, etag=""):
        """One GET to the CEP API within the deadline, its time counted in this thread's wait."""
        started = time.perf_counter()
        try:
            return self._get_within_deadline(path, etag)
        finally:
            _wait.ms = (getattr(_wait, "ms", None) or 0.0) + (time.perf_counter() - started) * 1000

    def _get_within_deadline(self, path, etag):
        """One GET to the CEP API within the deadline: (response, body bytes), or CepServiceUnavailable."""
        # requests leaves out a header whose value is None: no ETag, no If-None-Match. `identity`:
        # the body is read as it comes, so a compressed one could not be checked for size.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "If-None-Match": etag or None}
        try:
            # A redirect is not followed: the CEP API never sends one, so it is not the CEP API answering.
            response = self.session.get(self.base_url + path, headers=headers, timeout=self.timeout,
                                        stream=True, allow_redirects=False)
            try:
                body = response.raw.read(MAX_BODY_BYTES + 1)  # one byte more tells a body too big
            finally:
                response.close()  # a connection read to its end goes back to the pool, else is closed
        except (requests.Timeout, urllib3.exceptions.TimeoutError):  # the second one: in the body
            raise CepServiceUnavailable(f"The CEP API did not answer within {self.timeout.total} s")
        except (requests.RequestException, urllib3.exceptions.HTTPError):
            raise CepServiceUnavailable("The CEP API could not be reached")
        if len(body) > MAX_BODY_BYTES:
            raise CepServiceUnavailable(f"The CEP API answered more than {MAX_BODY_BYTES // 1024} KiB")
        return response, body


def reset_wait():
    """Start counting this thread's wait on the CEP API afresh (request_log.py: a request begins)."""
    _wait.ms = None


def waited_ms():
    """Milliseconds this thread waited on the CEP API since reset_wait(), to the microsecond (as the
    request log keeps them: log_summary.py); None if it made no call."""
    waited = getattr(_wait, "ms", None)
    return None if waited is None else round(waited, 3)


def json_or_none(body):
    """The decoded JSON `body`, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep, e.g. 60,000 "["
        return None


def is_record_of(record, cep):
    """True when `record` (decoded JSON) is a CEP record valid as the CEP API checks it, for the 8 digits `cep`."""
    if not (isinstance(record, dict) and all(isinstance(record.get(name), str) for name in RECORD_FIELDS)):
        return False
    return (record["cep"] == f"{cep[:5]}-{cep[5:]}"  # NNNNN-NNN, and the one asked for
            and UF_PATTERN.fullmatch(record["uf"]) is not None
            and IBGE_PATTERN.fullmatch(record["ibge"]) is not None
            and all(len(record[name]) <= MAX_TEXT_LENGTH and not NOT_TEXT.search(record[name])
                    for name in ("logradouro", "complemento", "bairro", "localidade")))


def is_cep_api_not_found(response, body):
    """True when a 404 is the CEP API's own JSON error for an unknown CEP, the only 404 meaning "no such CEP"."""
    # Its `fields.cep` says the CEP is unknown: the CEP API answers a wrong address (a wrong
    # prefix in CEP_API_URL, say) with a 404 too, but without `fields` (its OpenAPI document).
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    error = json_or_none(body) if content_type == "application/json" else None
    error = error.get("error") if isinstance(error, dict) else None
    return (isinstance(error, dict) and error.get("status") == 404 and isinstance(error.get("message"), str)
            and isinstance(error.get("fields"), dict) and "cep" in error["fields"])


# --- One deadline per call ------------------------------------------------------------------
# urllib3's Timeout(total=...) bounds connecting, then gives each read of the answer what is
# left of the budget: each read, not all of them. A server sending one byte every 0.3 s never
# lets a 0.5 s read time out, and keeps the call (and a waitress thread) for as long as it
# likes. So the socket below gives all reads one deadline, and no thread is needed to enforce
# it. Sending a GET of a few hundred bytes needs none: it fits in the socket's buffer at once.
# Not bounded: resolving a host name (the layouts we ship give CEP_API_URL as an IP address).
# Plain http:// only: over https the reads go through the TLS layer, which never calls
# recv_into(), so https:// keeps requests' own adapter (per-read timeouts); the CEP API is
# reached over http on a private address.

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


class DeadlineAdapter(HTTPAdapter):
    """requests' transport adapter, its http:// connections from DeadlineConnectionPools."""

    def init_poolmanager(self, *args, **kwargs):
        """requests' pool manager, told to make a DeadlineConnectionPool for each http:// host."""
        super().init_poolmanager(*args, **kwargs)
        pools = self.poolmanager.pool_classes_by_scheme
        self.poolmanager.pool_classes_by_scheme = {**pools, "http": DeadlineConnectionPool}
