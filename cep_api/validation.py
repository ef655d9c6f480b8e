"""What a valid CEP record is: the CEP format, the 27 UFs and their Correios ranges, the fields."""
import csv
import re
import unicodedata
from pathlib import Path

# Used with fullmatch(): "$" would also match before a final newline ("01001000\n").
# [0-9], not \d: \d matches any Unicode digit.
CEP_PATTERN = re.compile(r"([0-9]{5})-?([0-9]{3})")
IBGE_PATTERN = re.compile(r"[0-9]{7}")
# Control characters (C0, DEL, C1: tab, newline, ESC...) have no place in an address, and would
# let a stored value rewrite a terminal or a log line. A JSON string may also carry a lone UTF-16
# surrogate ("\ud800"), which SQLite cannot store.
NOT_STORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

TEXT_FIELDS = ("logradouro", "complemento", "bairro", "localidade", "uf", "ibge")
REQUIRED_FIELDS = ("localidade", "uf")
MAX_TEXT_LENGTH = 200


def load_uf_ranges(path=Path(__file__).parent / "data" / "cep_ranges_uf.csv"):
    """Read the Correios CEP ranges per UF (AM, DF and GO have two ranges each)."""
    ranges = {}
    with open(path, newline="", encoding="utf-8") as ranges_file:
        for row in csv.DictReader(ranges_file):
            ranges.setdefault(row["uf"], []).append((row["cep_inicio"], row["cep_fim"]))
    return ranges


UF_RANGES = load_uf_ranges()


def normalize_cep(text):
    """Return the 8 digits of a CEP written as 01001000 or 01001-000, or None if it is neither."""
    match = CEP_PATTERN.fullmatch(text) if isinstance(text, str) else None
    return match.group(1) + match.group(2) if match else None


def format_cep(digits):
    """Write 8 digits the way the API always answers: NNNNN-NNN."""
    return f"{digits[:5]}-{digits[5:]}"


def cep_in_uf(digits, uf):
    """True when the CEP falls inside one of the UF's Correios ranges."""
    return any(start <= digits <= end for start, end in UF_RANGES.get(uf, ()))


def clean_record(data, partial=False):
    """Check the fields of a request body except `cep`; return (clean fields, errors by field).

    With `partial` (PATCH) missing fields are simply not changed; otherwise the required
    ones must be there and the optional ones default to "". The caller checks the UF range
    once it knows the final UF (for PATCH the stored one may be kept), and the CEP itself.
    """
    errors = {}
    unknown = sorted(set(data) - set(TEXT_FIELDS) - {"cep"})
    for name in unknown:
        errors[name] = "unknown field"

    clean = {}
    for name in TEXT_FIELDS:
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
        value = plain_text(value)
        if NOT_STORABLE.search(value):
            errors[name] = "must be plain text (no control character or lone surrogate)"
        elif len(data[name]) > MAX_TEXT_LENGTH:  # counted as sent, as the OpenAPI document's maxLength
            errors[name] = f"must be at most {MAX_TEXT_LENGTH} characters"
        elif name in REQUIRED_FIELDS and not value:
            errors[name] = "must not be empty"
        elif name == "uf" and value.upper() not in UF_RANGES:
            errors[name] = "must be one of the 27 UFs: " + ", ".join(sorted(UF_RANGES))
        elif name == "ibge" and value and not IBGE_PATTERN.fullmatch(value):
            errors[name] = "must be the 7-digit IBGE municipality code"
        else:
            clean[name] = value.upper() if name == "uf" else value
    return clean, errors


def plain_text(value):
    """`value` trimmed, in Unicode's composed form (NFC): "São" typed as S, a, a combining tilde, o
    is stored as the same four characters as "São" typed with one key, so both compare equal."""
    return unicodedata.normalize("NFC", value.strip())


def search_key(text):
    """`text` as the ViaCEP address search compares it: no accents, no case, single spaces.

    "São  Paulo" and "SAO PAULO" both give "sao paulo": NFKD splits "ã" into "a" and a combining
    tilde, which is dropped; casefold() is lower() for every script ("ß" becomes "ss")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(char for char in decomposed if not unicodedata.combining(char)).casefold().split())


def check_uf_range(errors, cep_digits, uf):
    """Add to `errors` a CEP outside its UF's Correios range.

    Checked only once everything else is valid: the check needs a valid CEP and UF.
    """
    if errors or not uf or cep_in_uf(cep_digits, uf):
        return
    spans = ", ".join(f"{format_cep(a)}..{format_cep(b)}" for a, b in UF_RANGES[uf])
    errors["uf"] = f"CEP {format_cep(cep_digits)} is not in the Correios range of {uf} ({spans})"
