"""Great Expectations' Data Docs, offline: its pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and
Vega from CDNs, so without internet they stay blank. The same pinned releases are fetched from the npm
registry when the project is installed (``make``: ``python -m lifecycle.quality.data_docs_assets fetch``)
and, after each Data Docs build, copied under ``site/gx/static/vendor/`` with every page pointing there.

``ASSETS`` is the one list: which CDN address is which file of which npm package release.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lifecycle.config import load_settings
from lifecycle.errors import LifecycleError


@dataclass(frozen=True)
class Asset:
    """A CDN address in GE's templates and the file of an npm package release that it serves."""

    url: str
    package: str
    version: str
    path: str
    #: A folder of the package the file refers to by relative path (Font Awesome's webfonts).
    with_folder: str | None = None

    @property
    def local(self) -> str:
        """Where the file lives under the vendor folder (and the web-assets folder): package@version/path."""
        return f"{self.package}@{self.version}/{self.path}"


def _asset(url: str, spec: str, path: str, with_folder: str | None = None) -> Asset:
    package, _, version = spec.rpartition("@")
    return Asset(url, package, version, path, with_folder)


ASSETS = (
    _asset("https://code.jquery.com/jquery-3.7.1.min.js", "jquery@3.7.1", "dist/jquery.min.js"),
    _asset(
        "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",
        "bootstrap@4.3.1",
        "dist/css/bootstrap.min.css",
    ),
    _asset(
        "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",
        "bootstrap@4.3.1",
        "dist/js/bootstrap.min.js",
    ),
    _asset(
        "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",
        "popper.js@1.12.9",
        "dist/umd/popper.min.js",
    ),
    _asset(
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.css",
    ),
    _asset(
        "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.js",
    ),
    _asset(
        "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    _asset(
        "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        "bootstrap-table@1.19.0",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    _asset(
        "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css",
        "bootstrap-table@1.19.0",
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
    ),
    _asset(
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
        "bootstrap-datepicker@1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
    ),
    _asset(
        "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
        "bootstrap-datepicker@1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    _asset(
        "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
        "@fortawesome/fontawesome-free@6.6.0",
        "css/all.min.css",
        with_folder="webfonts",
    ),
    _asset(
        "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
        "@forevolve/bootstrap-dark@1.1.0",
        "dist/css/bootstrap-prefers-dark.css",
    ),
    # GE asks for the newest 5.x / 6.x; we pin the release installed (jsDelivr serves its `jsdelivr` file).
    _asset("https://cdn.jsdelivr.net/npm/vega@5", "vega@5.33.1", "build/vega.min.js"),
    _asset("https://cdn.jsdelivr.net/npm/vega-lite@5", "vega-lite@5.23.0", "build/vega-lite.min.js"),
    _asset("https://cdn.jsdelivr.net/npm/vega-embed@6", "vega-embed@6.29.0", "build/vega-embed.min.js"),
)

#: GE's logos on its own web host: the same images ship in GE's package and are copied to ``static/images``.
GE_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com"
IMAGES = {
    f"{GE_IMAGES}/full_logo_dark.png": "images/logo-long.png",
    f"{GE_IMAGES}/logo-long.png": "images/logo-long.png",
}


def fetch(assets_dir: Path) -> None:
    """Fetch every pinned package release with ``npm pack`` (registry only, no install scripts run) and keep
    the files the Data Docs use. Idempotent: releases already present are skipped."""
    npm = shutil.which("npm")
    if npm is None:
        raise LifecycleError("npm not found: install Node.js (Debian: apt-get install npm) and rerun make")
    releases = sorted({(a.package, a.version) for a in ASSETS})
    for package, version in releases:
        folder = assets_dir / f"{package}@{version}"
        if (folder / "package.json").exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            packed = subprocess.run(
                [npm, "pack", f"{package}@{version}", "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                check=False,
            )
            if packed.returncode != 0:
                raise LifecycleError(f"npm pack {package}@{version} failed: {packed.stderr.strip()}")
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                archive.extractall(tmp, filter="data")
            shutil.rmtree(folder, ignore_errors=True)
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / "package", folder)


def localize(docs_dir: Path, assets_dir: Path) -> None:
    """Copy the assets into ``docs_dir/static/vendor/`` and point every Data Docs page at them."""
    missing = [a.local for a in ASSETS if not (assets_dir / a.local).exists()]
    if missing:
        raise LifecycleError(
            f"Data Docs assets missing in {assets_dir}: {', '.join(missing)}; run `make` (it fetches them "
            "from npm) or set LIFECYCLE_WEB_ASSETS_DIR"
        )
    vendor = docs_dir / "static" / "vendor"
    for asset in ASSETS:
        target = vendor / asset.local
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(assets_dir / asset.local, target)
        if asset.with_folder:
            release = f"{asset.package}@{asset.version}"
            shutil.copytree(
                assets_dir / release / asset.with_folder,
                vendor / release / asset.with_folder,
                dirs_exist_ok=True,
            )
    for page in docs_dir.rglob("*.html"):
        page.write_text(rewrite(page.read_text(), page.parent.relative_to(docs_dir)))


def rewrite(html: str, folder: Path) -> str:
    """``html`` (a page in ``folder`` under the Data Docs root) with every known CDN address made relative.

    The longest addresses first, so ``…/vega@5`` never rewrites part of ``…/vega-lite@5``.
    """
    up = "../" * len(folder.parts)
    local = {a.url: f"{up}static/vendor/{a.local}" for a in ASSETS}
    local |= {url: f"{up}static/{path}" for url, path in IMAGES.items()}
    for url in sorted(local, key=len, reverse=True):
        html = html.replace(f'"{url}"', f'"{local[url]}"')
        # GE adds a cache-busting query string to its logo.
        html = html.replace(f'"{url}?', f'"{local[url]}?')
    return html


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"] or len(argv) > 2:
        print("usage: python -m lifecycle.quality.data_docs_assets fetch [DIR]", file=sys.stderr)
        return 2
    fetch(Path(argv[1]) if len(argv) == 2 else load_settings().web_assets_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
