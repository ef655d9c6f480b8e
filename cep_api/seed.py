"""Load CEP rows from a CSV file (cep,logradouro,complemento,bairro,cidade,uf,ibge) idempotently."""
import csv
import gzip
from pathlib import Path

from peewee import chunked

from chassis.text import search_key

from .models import Cep, db
from .validation import check_uf_range, clean_record, normalize_cep

SAMPLE_CSV = Path(__file__).parent / "data" / "ceps_sample.csv"
BATCH_SIZE = 500  # rows per INSERT: well under SQLite's limit on bound parameters


class SeedError(ValueError):
    """A row of the CSV is not a valid CEP record; nothing was loaded."""


def read_rows(path):
    """Yield valid records from the CSV (plain or .gz), or raise SeedError at the first bad row."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as csv_file:
        for line_number, row in enumerate(csv.DictReader(csv_file), start=2):
            digits = normalize_cep(row.get("cep"))
            row["localidade"] = row.pop("cidade", None)
            fields, errors = clean_record({name: value for name, value in row.items()
                                           if name != "cep" and value is not None})
            if digits is None:
                errors["cep"] = "is not a CEP"
            check_uf_range(errors, digits, fields.get("uf"))
            if errors:
                raise SeedError(f"{path}, line {line_number}: {errors}")
            # insert_many() skips Cep.save(): the search keys are set here.
            yield {"cep": digits, **fields, "town_key": search_key(fields["localidade"]),
                   "street_key": search_key(fields["logradouro"]), "district_key": search_key(fields["bairro"])}


def seed(path=SAMPLE_CSV):
    """Insert the rows not yet present, in one transaction; return (added, already_present)."""
    with db.connection_context():
        before, seen = Cep.select().count(), 0
        with db.writing():
            for batch in chunked(read_rows(path), BATCH_SIZE):  # lists of BATCH_SIZE records (the last: fewer)
                Cep.insert_many(batch).on_conflict_ignore().execute()
                seen += len(batch)
        added = Cep.select().count() - before
    return added, seen - added
