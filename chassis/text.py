"""Text from clients: what any text field of a body may hold, and how ?q= compares text."""
import re
import unicodedata

# Control characters (C0, DEL, C1: tab, newline, ESC...) have no place in these fields, and would
# let a stored value rewrite a terminal or a log line. A JSON string may also carry a lone UTF-16
# surrogate ("\ud800"), which SQLite cannot store.
NOT_STORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_fields(data, max_lengths, required, partial, check, errors):
    """The text fields of `data` named in `max_lengths`, trimmed and in NFC; what is at fault goes into `errors`."""
    # At fault: missing but required (unless `partial`: a PATCH), not a string, not plain text, too
    # long, empty but required, or refused by check(name, value), which says why.
    clean = {}
    for name, max_length in max_lengths.items():
        if name not in data:
            if not partial and name in required:
                errors[name] = "is required"
            elif not partial:
                clean[name] = ""
            continue
        if not isinstance(data[name], str):
            errors[name] = "must be a string"
            continue
        # In Unicode's composed form (NFC): "São" typed with a combining tilde is the same text as
        # "São" typed with one key.
        value = unicodedata.normalize("NFC", data[name].strip())
        if NOT_STORABLE.search(value):
            errors[name] = "must be plain text (no control character or lone surrogate)"
        elif len(data[name]) > max_length:  # counted as sent, as the OpenAPI documents' maxLength
            errors[name] = f"must be at most {max_length} characters"
        elif name in required and not value:
            errors[name] = "must not be empty"
        elif refused := check(name, value):
            errors[name] = refused
        else:
            clean[name] = value
    return clean


def search_key(text):
    """`text` as ?q= compares it on either engine: no accents, no case, single spaces ("São  Paulo": "sao paulo")."""
    # NFKD splits "ã" into "a" and a combining tilde, which is dropped; casefold() is lower() for
    # every script ("ß" becomes "ss").
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).casefold().split())
