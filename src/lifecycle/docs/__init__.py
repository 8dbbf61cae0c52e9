"""The docs site under site/: dbt docs (catalog + lineage), GE Data Docs, and our own pages — quality
report, pipeline health, analysis results, test and documentation coverage — linked from index.html.

Everything is static HTML readable offline (inline CSS and SVG, no JavaScript of ours, no CDN), rendered
from the Jinja2 templates in ``templates/``. ``build`` builds the site, ``pages`` renders it, ``server``
serves it on localhost.
"""

from lifecycle.docs.build import build_docs
from lifecycle.docs.server import serve

__all__ = ["build_docs", "serve"]
