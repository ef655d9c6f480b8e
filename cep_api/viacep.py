"""ViaCEP's routes over the same records, so code written for https://viacep.com.br works offline: field for
field and in ViaCEP's order, in JSON or XML (unidade and gia stay empty: no data here has them)."""
import csv
import json
from pathlib import Path
from xml.sax.saxutils import escape

from chassis.text import search_key
from chassis.web import etag_for
from .models import Cep
from .validation import format_cep

DATA = Path(__file__).parent / "data"
MAX_RESULTS = 50  # ViaCEP's cap on an address search


def read_table(name, key):
    """{row[key]: row} of a CSV file in data/."""
    with open(DATA / name, newline="", encoding="utf-8") as table:
        return {row[key]: row for row in csv.DictReader(table)}


STATES = read_table("ufs.csv", "uf")  # estado and regiao by UF: SP -> {"estado": "São Paulo", "regiao": "Sudeste"}
TOWNS = read_table("municipios.csv", "ibge")  # ddd and siafi by IBGE code: 3550308 -> {"ddd": "11", "siafi": "7107"}


def encode(value):
    """(body, etag) of a ViaCEP answer: JSON indented as ViaCEP's, UTF-8."""
    body = json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")
    return body, etag_for(body)


def encode_xml(fields):
    """(body, etag) of a ViaCEP answer in XML: an <xmlcep> element holding one element per field."""
    elements = "".join(f"  <{name}>{escape(value)}</{name}>\n" for name, value in fields.items())
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<xmlcep>\n{elements}</xmlcep>\n'.encode("utf-8")
    return body, etag_for(body)


# ViaCEP's "no such CEP", with status 200: in JSON a boolean (clients test `erro === true`).
NOT_FOUND = {"json": encode({"erro": True}), "xml": encode_xml({"erro": "true"})}


def to_viacep(record):
    """A record as ViaCEP writes it."""
    town = TOWNS.get(record.ibge, {})
    return {"cep": format_cep(record.cep), "logradouro": record.logradouro, "complemento": record.complemento,
            "unidade": "", "bairro": record.bairro, "localidade": record.localidade, "uf": record.uf,
            "estado": STATES[record.uf]["estado"], "regiao": STATES[record.uf]["regiao"], "ibge": record.ibge,
            "gia": "", "ddd": town.get("ddd", ""), "siafi": town.get("siafi", "")}


def answer(digits, memo, shape="json"):
    """(body, etag) of GET /ws/<cep>/json/ (or xml/): the record, or NOT_FOUND; a memo hit costs no query."""
    return memo.answer(digits, f"viacep-{shape}", lambda: read_answer(digits, shape)) or NOT_FOUND[shape]


def read_answer(digits, shape):
    """(body, etag) of a CEP's record in ViaCEP's JSON or XML, read from the database; None: no record."""
    record = Cep.get_or_none(Cep.cep == digits)
    return None if record is None else (encode if shape == "json" else encode_xml)(to_viacep(record))


def search(uf, town, street):
    """(body, etag) of GET /ws/<uf>/<town>/<street>/json/: the town's records whose street holds `street`, by CEP."""
    # MAX_RESULTS at most; the caller has checked the three. peewee escapes % and _ in contains().
    query = Cep.select().where((Cep.uf == uf) & (Cep.town_key == search_key(town))
                               & Cep.street_key.contains(search_key(street)))
    return encode([to_viacep(record) for record in query.order_by(Cep.cep).limit(MAX_RESULTS)])
