"""``lifecycle docs --serve``: the built site on a localhost HTTP server (the site itself is static)."""

from __future__ import annotations

import contextlib
import functools
import http.server

from lifecycle.config import Settings
from lifecycle.errors import LifecycleError


def serve(settings: Settings, port: int = 8080) -> None:
    """Serve site/ on http://127.0.0.1:``port``/ until Ctrl-C."""
    index = settings.site_dir / "index.html"
    if not index.exists():
        raise LifecycleError(f"no site at {index}: run `lifecycle docs` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(settings.site_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {settings.site_dir} on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
