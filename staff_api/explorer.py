"""GET /docs: Swagger UI over GET /openapi.json, served from this machine (no CDN, no build step).

Swagger UI's files come from the swagger-ui-py package (README: Dependencies); only the ones
the page loads are served. The page finds them, and the document, by addresses relative to its
own, so it works just as well when the service is mounted under a prefix (/cep/docs).

The CEP API owns a copy of this small module: the two services share no code.
"""
import html
from importlib.resources import files

from bottle import response, static_file

from .jsonhttp import ApiError

STATIC_ROOT = str(files("swagger_ui") / "static")
# Everything the page below loads, and nothing else of the package.
STATIC_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "openapi.json",  // relative to this page, like the files above
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis],
      validatorUrl: null  // never ask the online validator: the page works offline
    }});
  </script>
</body>
</html>
"""


def page(title):
    """The HTML page of the explorer."""
    response.content_type = "text/html; charset=utf-8"
    return PAGE.format(title=html.escape(title))


def static(name):
    """One of Swagger UI's files, or a 404 (a name with '..' or '/' is never one of them)."""
    if name not in STATIC_FILES:
        raise ApiError(404, f"There is no file '{name}' here.")
    return static_file(name, root=STATIC_ROOT)
