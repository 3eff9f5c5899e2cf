"""Interactive docs (Swagger UI at /docs, ReDoc at /redoc) with every asset served here.

The JavaScript and CSS come from the `fastapi-offline` wheel (Swagger UI: Apache-2.0,
ReDoc: MIT, the wheel: MIT; see gateway/LICENSES.md); no page loads anything from a CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
VENDORED = Path(str(files("fastapi_offline") / "static"))
OWN = Path(__file__).resolve().parent / "static"

SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Highload Shop API</title>
  <link rel="icon" type="image/png" href="{ASSETS_URL}/favicon.png">
  <link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS_URL}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Highload Shop API (ReDoc)</title>
  <link rel="icon" type="image/png" href="{ASSETS_URL}/favicon.png">
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="{ASSETS_URL}/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
@router.get("/docs/")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(SWAGGER_PAGE)


@router.get("/redoc")
@router.get("/redoc/")
async def redoc() -> HTMLResponse:
    return HTMLResponse(REDOC_PAGE)


class Assets(StaticFiles):
    """Our own files first (swagger-init.js), then the vendored Swagger UI and ReDoc."""

    def __init__(self) -> None:
        super().__init__(directory=OWN)
        self.all_directories = [OWN, VENDORED]
