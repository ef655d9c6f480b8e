"""How the staff API talks to the CEP API (for cep_cache.py): one GET within one deadline, its answer checked."""
# The deadline and the size limit are chassis/outgoing.py's.
import json
import re
import threading
import time

from chassis import outgoing
from chassis.text import NOT_STORABLE  # the CEP API never stores these

RECORD_FIELDS = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge")
MAX_TEXT_LENGTH = 200  # as the CEP API allows
UF_PATTERN = re.compile("[A-Z]{2}")
IBGE_PATTERN = re.compile("([0-9]{7})?")  # the IBGE code is optional: "" or 7 digits
MAX_BODY_BYTES = 64 * 1024  # a record is a few hundred bytes: a bigger answer is not the CEP API's
MAX_SUMMARY_BYTES = 1024 * 1024  # a day's log summary, minute by minute, is a few hundred kB
HEALTH_PROBE_INTERVAL = 5.0  # seconds during which /health reuses the last probe's answer


class CepServiceUnavailable(Exception):
    """The CEP API could not give an answer: down, too slow, failing, or answering nonsense."""


class CepApiClient:
    """Calls the CEP API over HTTP, each call within one deadline of `timeout` seconds."""

    def __init__(self, base_url, timeout, token="", session=None):
        """A client of the CEP API at `base_url`, with its `token` for the request log."""
        # An injected `session` (deploy/pythonanywhere) is used as it is.
        self.base_url, self.timeout, self.token = base_url.rstrip("/"), timeout, token
        self.session = session or outgoing.deadline_session()
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

    def log_summary(self, minutes):
        """The CEP API's GET /logs/summary, read here with its token, so that no browser needs that token."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response, body = self._get(f"/logs/summary?minutes={minutes}", headers=headers, max_bytes=MAX_SUMMARY_BYTES)
        summary = json_or_none(body)
        if response.status_code != 200 or not isinstance(summary, dict):
            raise CepServiceUnavailable(f"The CEP API answered {response.status_code} for its log summary")
        return summary

    def is_up(self):
        """True when the last probe of the CEP API's /health got a 200; never raises, never waits."""
        # At most one probe every HEALTH_PROBE_INTERVAL seconds, and while one thread probes, the others get
        # the last answer at once (False until the first probe has finished): monitors poll /health, and a
        # slow CEP API must not tie up every waitress thread.
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

    def _get(self, path, etag="", headers=None, max_bytes=MAX_BODY_BYTES):
        """One GET to the CEP API within the deadline: (response, body bytes), or CepServiceUnavailable."""
        # requests leaves out a header whose value is None: no ETag, no If-None-Match. `identity`:
        # the body is read as it comes, so a compressed one could not be checked for size.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "If-None-Match": etag or None,
                   **(headers or {})}
        try:
            return outgoing.get(self.session, self.base_url + path, self.timeout, headers, max_bytes)
        except outgoing.Unavailable as error:
            raise CepServiceUnavailable(f"The CEP API {error}")


def json_or_none(body):
    """The decoded JSON `body`, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep, e.g. 60,000 "["
        return None


def is_record_of(record, cep):
    """True when `record` (decoded JSON) is a CEP record valid as the CEP API checks it, for the 8 digits `cep`."""
    return (isinstance(record, dict) and all(isinstance(record.get(name), str) for name in RECORD_FIELDS)
            and record["cep"] == f"{cep[:5]}-{cep[5:]}"  # NNNNN-NNN, and the one asked for
            and UF_PATTERN.fullmatch(record["uf"]) is not None
            and IBGE_PATTERN.fullmatch(record["ibge"]) is not None
            and all(len(record[name]) <= MAX_TEXT_LENGTH and not NOT_STORABLE.search(record[name])
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
