"""How the staff API talks to the CEP API: one GET within a time budget, its answer checked (cep_cache.py calls it)."""
import requests
from urllib3.util import Timeout

RECORD_FIELDS = ("cep", "logradouro", "complemento", "bairro", "localidade", "uf", "ibge")


class CepServiceUnavailable(Exception):
    """The CEP API could not give an answer: down, too slow, failing, or answering nonsense."""


class CepApiClient:
    """Calls the CEP API over HTTP, always within the time budget."""

    def __init__(self, base_url, timeout, session=None):
        self.base_url = base_url.rstrip("/")
        # `total` bounds the whole call, connect included, as STAFF_CEP_TIMEOUT promises;
        # requests alone would never time out, and a plain number bounds each phase apart.
        self.timeout = Timeout(total=timeout)
        # One session for the whole service: it keeps TCP connections open between calls.
        self.session = session or requests.Session()

    def fetch(self, cep, etag=""):
        """GET /ceps/{cep}, conditional when we hold an ETag: (status, record, etag) or CepServiceUnavailable."""
        # 200: found, with the record and its ETag; 304: our ETag is still right; 404: no such CEP.
        try:
            response = self._get(f"/ceps/{cep}", etag)
            if response.status_code == 200:
                record = response.json()
                if not is_record_of(record, cep):
                    raise ValueError("not the CEP record asked for")
                return 200, record, response.headers.get("ETag", "")
            if response.status_code == 404 or (response.status_code == 304 and etag):
                return response.status_code, None, ""
            failure = f"answered {response.status_code}"
        except requests.Timeout:
            failure = f"did not answer within {self.timeout.total} s"
        except requests.RequestException:
            failure = "could not be reached"
        except ValueError:
            failure = "answered something that is not the CEP record asked for"
        raise CepServiceUnavailable(f"The CEP API {failure}")

    def is_up(self):
        """True when the CEP API answers /health within the budget (never raises)."""
        try:
            return self._get("/health").status_code == 200
        except requests.RequestException:
            return False

    def _get(self, path, etag=""):
        """One GET to the CEP API, always with the timeout."""
        # requests leaves out a header whose value is None: no ETag, no If-None-Match.
        headers = {"Accept": "application/json", "If-None-Match": etag or None}
        return self.session.get(self.base_url + path, headers=headers, timeout=self.timeout)


def is_record_of(record, cep):
    """True when `record` (decoded JSON) is a CEP record, and the one for `cep`."""
    return (isinstance(record, dict) and all(isinstance(record.get(name), str) for name in RECORD_FIELDS)
            and record["cep"].replace("-", "") == cep)
