"""What a valid CEP record is: the CEP format, the 27 UFs and their Correios ranges, the fields."""
import csv
import re
from pathlib import Path

from chassis.text import clean_fields

# Used with fullmatch(): "$" would also match before a final newline ("01001000\n").
# [0-9], not \d: \d matches any Unicode digit.
CEP_PATTERN = re.compile(r"([0-9]{5})-?([0-9]{3})")
IBGE_PATTERN = re.compile(r"[0-9]{7}")

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
    """Check the fields of a request body except `cep`; return (clean fields, errors by field)."""
    # With `partial` (PATCH) missing fields are not changed; otherwise the required ones must be there and
    # the others default to "". The caller checks the CEP, and the UF range once it knows the final UF.
    errors = {name: "unknown field" for name in sorted(set(data) - set(TEXT_FIELDS) - {"cep"})}
    clean = clean_fields(data, dict.fromkeys(TEXT_FIELDS, MAX_TEXT_LENGTH), REQUIRED_FIELDS, partial,
                         check_field, errors)
    if "uf" in clean:
        clean["uf"] = clean["uf"].upper()
    return clean, errors


def check_field(name, value):
    """Why `value` is not a valid UF or IBGE code, if it is not (clean_fields checks the rest)."""
    if name == "uf" and value.upper() not in UF_RANGES:
        return "must be one of the 27 UFs: " + ", ".join(sorted(UF_RANGES))
    if name == "ibge" and value and not IBGE_PATTERN.fullmatch(value):
        return "must be the 7-digit IBGE municipality code"
    return None


def check_uf_range(errors, cep_digits, uf):
    """Add to `errors` a CEP outside its UF's Correios range, once everything else is valid."""
    # The check needs a valid CEP and UF.
    if errors or not uf or cep_in_uf(cep_digits, uf):
        return
    spans = ", ".join(f"{format_cep(a)}..{format_cep(b)}" for a, b in UF_RANGES[uf])
    errors["uf"] = f"CEP {format_cep(cep_digits)} is not in the Correios range of {uf} ({spans})"
