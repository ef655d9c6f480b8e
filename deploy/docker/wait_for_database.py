"""Wait until the PostgreSQL server named by the variable $1 (CEP_API_DATABASE_URL, ...) answers.

compose.yaml's postgres profile starts PostgreSQL beside the services, and a service that cannot
reach its database when it starts exits. So each service's command waits here first, at most 60 s,
saying so. With the variable unset or empty the service uses SQLite: nothing to wait for.
"""
import os
import sys
import time

variable = sys.argv[1]
url = os.environ.get(variable, "")
deadline = time.monotonic() + 60
while url:
    import psycopg2  # only here: the driver matters only with a URL

    try:
        psycopg2.connect(url, connect_timeout=2).close()
        break
    except psycopg2.OperationalError as error:  # not accepting connections yet
        if time.monotonic() > deadline:
            sys.exit(f"the database in {variable} did not answer within 60 s: {error}")
        print(f"waiting for the database in {variable}", flush=True)
        time.sleep(1)
