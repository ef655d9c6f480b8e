"""What can be done with employees: one plain function per use case, taking fields checked by
validation.py and raising the errors below (app.ERROR_STATUS gives each its HTTP status); no HTTP here."""
import unicodedata

from peewee import IntegrityError

from chassis.text import search_key
from chassis.web import iso_utc

from .models import ADDRESS_FIELDS, Employee, db
from .validation import format_cep

LARGEST_ID = 2**63 - 1  # SQLite's largest integer: a bigger id cannot exist
# What GET /employees?sort= takes: names and e-mails sort by their folded keys, so "Álvaro" comes
# with "alvaro", in any case.
SORT_KEYS = {"id": Employee.id, "name": Employee.name_key, "email": Employee.email_key, "cep": Employee.cep}


class StaffError(Exception):
    """An error a client can fix; `cache_outcome` tells how the CEP was resolved, if it was."""

    def __init__(self, message, fields=None, cache_outcome=None):
        super().__init__(message)
        self.fields, self.cache_outcome = fields, cache_outcome


class EmployeeNotFound(StaffError):
    """No employee has this id."""


class EmailTaken(StaffError):
    """Another employee has this e-mail address, in some case."""


class CepUnknown(StaffError):
    """The CEP API says this CEP does not exist."""


def find_page(page, per_page, filters, sort="id"):
    """One page of employees, filtered by `uf` and `q` (part of a name or e-mail), sorted by `sort`, then id."""
    # `sort`: a key of SORT_KEYS, "-" first for descending.
    column = SORT_KEYS[sort.removeprefix("-")]
    query = Employee.select().order_by(column.desc() if sort.startswith("-") else column, Employee.id)
    if "uf" in filters:
        query = query.where(Employee.uf == filters["uf"].upper())
    if "q" in filters:
        # Folded keys, not LIKE on the columns: SQLite's LIKE ignores case in ASCII only, PostgreSQL's ILIKE
        # in every alphabet. On the keys, "jose" finds "José" and "ZOË" finds "zoë@..." on both.
        query = query.where(Employee.name_key.contains(search_key(filters["q"]))
                            | Employee.email_key.contains(email_key(filters["q"])))
    return {"items": [employee.to_dict() for employee in query.paginate(page, per_page)],
            "page": page, "per_page": per_page, "total": query.count()}


def find(employee_id):
    """The employee with this id (text from the path), or EmployeeNotFound."""
    # Length first: int() refuses more than 4,300 digits, and LARGEST_ID has 19.
    if employee_id.isascii() and employee_id.isdigit() and len(employee_id) < 20 and 0 < int(employee_id) <= LARGEST_ID:
        employee = Employee.get_or_none(Employee.id == int(employee_id))
        if employee is not None:
            return employee
    raise EmployeeNotFound(f"There is no employee {employee_id}.")


def create(fields, cep_cache):
    """Create an employee with the address of their CEP; returns (employee, cache outcome)."""
    address, outcome = look_up_address(fields["cep"], cep_cache)
    now = iso_utc()
    try:
        with db.writing():
            employee = Employee.create(**fields, **address, email_key=email_key(fields["email"]),
                                       name_key=search_key(fields["name"]), created_at=now, updated_at=now)
    except IntegrityError:  # the unique e-mail key refused the row
        raise email_taken(fields["email"], outcome)
    return employee, outcome


def change(employee_id, fields, cep_cache):
    """Change the fields given; returns (employee, cache outcome, or None when the CEP did not change)."""
    employee = find(employee_id)
    changes, outcome = dict(fields), None
    if "cep" in fields and fields["cep"] != employee.cep:
        address, outcome = look_up_address(fields["cep"], cep_cache)
        changes.update(address)
    if "email" in fields:
        changes["email_key"] = email_key(fields["email"])
    if "name" in fields:
        changes["name_key"] = search_key(fields["name"])
    changes["updated_at"] = iso_utc()
    query = Employee.update(**changes).where(Employee.id == employee.id)
    if "cep" in fields:
        # The address above (or none, for an unchanged CEP) suits only the CEP we read: if another
        # request changed it since, this one must decide again, or the row would get one CEP and
        # the address of another.
        query = query.where(Employee.cep == employee.cep)
    try:
        with db.writing():
            changed = query.execute()
    except IntegrityError:
        raise email_taken(fields["email"], outcome)
    if not changed:  # deleted meanwhile (the find() above says 404 then), or its CEP changed: decide again
        return change(employee_id, fields, cep_cache)
    return find(employee_id), outcome


def delete(employee_id):
    """Delete the employee with this id, or EmployeeNotFound."""
    with db.writing():
        Employee.delete().where(Employee.id == find(employee_id).id).execute()


def look_up_address(cep, cep_cache):
    """The address columns for `cep` and how the cache found them; CepUnknown if it does not exist."""
    record, outcome = cep_cache.lookup(cep)
    if record is None:
        raise CepUnknown(f"CEP {format_cep(cep)} does not exist.", {"cep": "no such CEP"}, outcome)
    return {name: record[name] for name in ADDRESS_FIELDS}, outcome


def email_key(email):
    """What makes two e-mails the same: equal once case is folded ("Ana@X.com" is "ana@x.com")."""
    return unicodedata.normalize("NFC", email.casefold())  # folding may decompose a letter


def email_taken(email, cache_outcome):
    """The error for an e-mail address another employee already has (in any case)."""
    return EmailTaken(f"Another employee already has the e-mail {email}.", {"email": "already taken"}, cache_outcome)
