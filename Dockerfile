# One image for both services; the command picks one (compose.yaml does):
#   docker run ... cep-staff python -m cep_api        docker run ... cep-staff python -m staff_api
# Any Debian-like base with a Python 3.11+ and its venv module will do: python:3.12-slim by
# default, or plain Debian bookworm with python3 and python3-venv (what deploy/docker/test.sh
# builds on, since it cannot pull from a registry).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

# Python prints log lines as they happen and reads and writes text as UTF-8.
ENV PYTHONUNBUFFERED=1 LANG=C.UTF-8

WORKDIR /app
# The requirements before the code: this slow layer is rebuilt only when they change.
# requirements-postgres.txt is requirements.txt plus the PostgreSQL driver (compose's postgres profile).
COPY requirements.txt requirements-postgres.txt ./
# A virtualenv, as on your machine: Debian's python3 refuses `pip install` outside one (PEP 668),
# and first in PATH it makes `python` the venv's, whichever Python the base has. pip and
# setuptools only install the packages, so they go in the same layer (25 MB less).
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements-postgres.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools
ENV PATH=/opt/venv/bin:$PATH

# The code, with the bundled CEP sample (cep_api/data/); compiled now, because at run time the
# service's user may not write here.
COPY chassis/ chassis/
COPY cep_api/ cep_api/
COPY staff_api/ staff_api/
COPY deploy/docker/healthcheck.py deploy/docker/wait_for_database.py ./
RUN python -m compileall -q chassis cep_api staff_api

# Not root: the code stays root's and read-only; the user may write only /data, its databases.
# A new named volume takes this directory's owner and mode (0700, as ./run.sh makes var/).
# A fixed uid: an image rebuilt on another base still owns the volumes the last one wrote.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home cepstaff \
    && install -d -o cepstaff -g cepstaff -m 0700 /data
USER cepstaff
VOLUME /data
ENV CEP_API_DB=/data/cep.sqlite3 STAFF_API_DB=/data/staff.sqlite3

# Inside a container, 127.0.0.1 is the container itself: listen on every interface so that the
# published port and the other service reach it. A service listening beyond loopback needs a
# token or an explicit *_ALLOW_OPEN=1 (docs/security.md); compose.yaml says which.
ENV CEP_API_HOST=0.0.0.0 STAFF_API_HOST=0.0.0.0
EXPOSE 8001 8002

# Healthy once the service answers GET /health (no curl here: Python asks).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["python", "/app/healthcheck.py"]
CMD ["python", "-m", "cep_api"]
