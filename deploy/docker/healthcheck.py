"""The image's HEALTHCHECK: exit 0 when the service this container runs answers GET /health.

A container runs one of the two services, so inside it only that service's port answers; ask
both ports rather than be told which service this is.
"""
import os
import sys
import urllib.request

# Straight to 127.0.0.1: never through a proxy that HTTP_PROXY in the container may name.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for port in (os.environ.get("CEP_API_PORT", "8001"), os.environ.get("STAFF_API_PORT", "8002")):
    try:
        with opener.open(f"http://127.0.0.1:{port}/health", timeout=2):
            sys.exit(0)
    except OSError:  # refused (this container runs the other service), or no 2xx yet
        pass
sys.exit(1)
