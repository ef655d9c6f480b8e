"""What a valid employee body is: required fields, lengths, a plausible e-mail, a CEP."""
import re
import unicodedata

# Used with fullmatch(): "$" would also match before a final newline ("01001000\n").
# [0-9], not \d: \d matches any Unicode digit.
CEP_PATTERN = re.compile(r"([0-9]{5})-?([0-9]{3})")
# Plausible, not RFC 5322: something@something.tld, no spaces. The only real proof is a mail.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
# Control characters (C0, DEL, C1: tab, newline, ESC...) have no place in these fields, and would
# let a stored value rewrite a terminal or a log line. A JSON string may also carry a lone UTF-16
# surrogate ("\ud800"), which SQLite cannot store.
NOT_STORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Every field a client may send, with its longest allowed length.
MAX_LENGTHS = {"name": 120, "email": 254, "role": 80, "cep": 9, "number": 20, "complement": 120}
REQUIRED_FIELDS = ("name", "email", "cep")
READ_ONLY_FIELDS = ("id", "address", "created_at", "updated_at")


def normalize_cep(text):
    """Return the 8 digits of a CEP written as 01001000 or 01001-000, or None if it is neither."""
    match = CEP_PATTERN.fullmatch(text) if isinstance(text, str) else None
    return match.group(1) + match.group(2) if match else None


def search_key(text):
    """`text` as ?q= compares it on either database engine: no accents, no case, single spaces
    ("José  SILVA" -> "jose silva"). NFKD splits "é" into "e" and a combining accent, dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).casefold().split())


def format_cep(digits):
    """8 digits written the way the API answers: NNNNN-NNN."""
    return f"{digits[:5]}-{digits[5:]}"


def clean_employee(data, partial=False):
    """Check a request body; return (clean fields, errors by field). `cep` comes back as 8 digits.

    With `partial` (PATCH) missing fields stay as they are; otherwise required ones must be there."""
    errors = {}
    for name in data:
        if name in READ_ONLY_FIELDS:
            errors[name] = "is read-only: the service fills it in"
        elif name not in MAX_LENGTHS:
            errors[name] = "unknown field"

    clean = {}
    for name, max_length in MAX_LENGTHS.items():
        if name not in data:
            if not partial and name in REQUIRED_FIELDS:
                errors[name] = "is required"
            elif not partial:
                clean[name] = ""
            continue
        value = data[name]
        if not isinstance(value, str):
            errors[name] = "must be a string"
            continue
        # Trimmed, and in Unicode's composed form (NFC): "joão" typed with a combining tilde is
        # the same e-mail, and the same name, as "joão" typed with one key.
        value = unicodedata.normalize("NFC", value.strip())
        if NOT_STORABLE.search(value):
            errors[name] = "must be plain text (no control character or lone surrogate)"
        elif len(data[name]) > max_length:  # counted as sent, as the OpenAPI document's maxLength
            errors[name] = f"must be at most {max_length} characters"
        elif name in REQUIRED_FIELDS and not value:
            errors[name] = "must not be empty"
        elif name == "email" and not EMAIL_PATTERN.fullmatch(value):
            errors[name] = "must be an e-mail address like ana@example.com"
        elif name == "cep" and normalize_cep(value) is None:
            errors[name] = "must be a CEP written as NNNNNNNN or NNNNN-NNN"
        else:
            clean[name] = normalize_cep(value) if name == "cep" else value
    return clean, errors
