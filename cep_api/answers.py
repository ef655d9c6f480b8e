"""Answers computed once: the encoded body and ETag of each CEP record, kept until it is written.

Every GET of the same record must give the same bytes, so encoding it again on each request
is wasted work. This memo keeps (body, etag) per CEP and shape (SHAPES: ours, ViaCEP's) in this
process's memory and drops a CEP's answers as soon as the record is written, so a write is visible
to the very next read, in either shape.
Only found records are kept: a 404 is looked up again, so a CEP added later (by the API or
by `python -m cep_api seed` in another process) is seen at once.
"""
import hashlib
import json
import threading

SHAPES = ("cep", "viacep")  # GET /ceps/<cep> answers the first, GET /ws/<cep>/json/ the second


def etag_for(body):
    """A strong ETag derived from the bytes of the answer: same content, same tag."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def answer_for(record):
    """The (body, etag) of a record: a GET and a write answer it with the same bytes and tag."""
    # Encoded as jsonhttp.json_bytes does (compact, UTF-8): that module is HTTP, this one is not.
    body = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return body, etag_for(body)


class AnswerMemo:
    """A bounded, thread-safe map (CEP, shape) -> (body, etag) that never serves a stale answer."""

    def __init__(self, max_entries=100_000):
        """An empty memo that keeps at most `max_entries` answers."""
        self.max_entries = max_entries
        self._entries = {}
        self._lock = threading.Lock()
        # Bumped by every write. A reader notes it before reading the database and stores
        # its answer only if no write happened meanwhile; otherwise it could put back an
        # answer that a concurrent write had just made stale.
        self._writes = 0

    def get(self, cep, shape="cep"):
        """The memoized (body, etag) for `cep` in `shape`, or None."""
        return self._entries.get((cep, shape))

    def writes_so_far(self):
        """Call before reading the database; pass the result to `remember`."""
        return self._writes

    def remember(self, cep, answer, writes_seen, shape="cep"):
        """Keep `answer` unless a write happened since `writes_seen` was taken."""
        with self._lock:
            if self._writes != writes_seen:
                return
            if len(self._entries) >= self.max_entries:
                # Drop the oldest entry (dicts keep insertion order): memory stays bounded.
                del self._entries[next(iter(self._entries))]
            self._entries[cep, shape] = answer

    def forget(self, cep):
        """Call after a write to `cep` is committed."""
        with self._lock:
            self._writes += 1
            for shape in SHAPES:
                self._entries.pop((cep, shape), None)
