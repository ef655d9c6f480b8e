"""What a valid employee body is: the fields, their lengths, a plausible e-mail, a CEP."""
import re

from chassis.text import clean_fields

# Used with fullmatch(): "$" would also match before a final newline. [0-9], not \d: \d matches
# any Unicode digit.
CEP_PATTERN = re.compile(r"([0-9]{5})-?([0-9]{3})")
# Plausible, not RFC 5322: something@something.tld, no spaces. The only real proof is a mail.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
# Every field a client may send, with its longest allowed length.
MAX_LENGTHS = {"name": 120, "email": 254, "role": 80, "cep": 9, "number": 20, "complement": 120}
REQUIRED_FIELDS = ("name", "email", "cep")
READ_ONLY_FIELDS = ("id", "address", "created_at", "updated_at")


def clean_employee(data, partial=False):
    """Check a request body; return (clean fields, errors by field). `cep` comes back as 8 digits."""
    # With `partial` (PATCH) missing fields stay as they are; otherwise the required ones must be there.
    errors = {name: "is read-only: the service fills it in" if name in READ_ONLY_FIELDS else "unknown field"
              for name in data if name not in MAX_LENGTHS}
    clean = clean_fields(data, MAX_LENGTHS, REQUIRED_FIELDS, partial, check_field, errors)
    if "cep" in clean:
        clean["cep"] = cep_digits(clean["cep"])
    return clean, errors


def check_field(name, value):
    """Why `value` is not a plausible e-mail or a CEP, if it is not (clean_fields checks the rest)."""
    if name == "email" and not EMAIL_PATTERN.fullmatch(value):
        return "must be an e-mail address like ana@example.com"
    if name == "cep" and cep_digits(value) is None:
        return "must be a CEP written as NNNNNNNN or NNNNN-NNN"
    return None


def cep_digits(text):
    """The 8 digits of a CEP written 01001000 or 01001-000; None for anything else."""
    found = CEP_PATTERN.fullmatch(text)
    return "".join(found.groups()) if found else None


def format_cep(digits):
    """8 digits as the API writes a CEP: NNNNN-NNN."""
    return digits[:5] + "-" + digits[5:]
