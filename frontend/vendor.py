"""Copy the browser libraries Shequ serves itself from npm into ``web/static/vendor``.

``python frontend/vendor.py`` runs ``npm ci`` on ``frontend/package-lock.json`` (exact
versions, each tarball checked against the lockfile's integrity hash, no install scripts),
copies each library's distribution file and its licences into
``src/shequ/web/static/vendor/<package>/`` and writes ``vendor.json`` there: the lockfile's
version and integrity of every package the files come from, and each file's SHA-256.

``python frontend/vendor.py --check`` needs no npm: it checks that the committed files are
the ones recorded for the lockfile's versions (so ``make demo`` works where npm is absent,
and a changed lockfile without a new copy, or a hand-edited copy, is refused).

Only the standard library is used: this runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent
LOCKFILE = FRONTEND / "package-lock.json"
MODULES = FRONTEND / "node_modules"
VENDOR = FRONTEND.parent / "src" / "shequ" / "web" / "static" / "vendor"
MANIFEST = "vendor.json"
NPM_CI = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]


@dataclass(frozen=True)
class Copied:
    """One file served by Shequ: ``source`` inside npm ``package``, saved as ``name``."""

    package: str
    source: str
    name: str


# Per served folder, its files.  ECharts' bundle includes ZRender and tslib's helpers, so
# their licences travel with it.  Licences are saved as .txt so they are served as text.
VENDORED: dict[str, tuple[Copied, ...]] = {
    "echarts": (
        Copied("echarts", "dist/echarts.min.js", "echarts.min.js"),
        Copied("echarts", "LICENSE", "LICENSE.txt"),
        Copied("echarts", "NOTICE", "NOTICE.txt"),
        Copied("echarts", "licenses/LICENSE-d3", "LICENSE-d3.txt"),
        Copied("zrender", "LICENSE", "LICENSE-zrender.txt"),
        Copied("tslib", "LICENSE.txt", "LICENSE-tslib.txt"),
    ),
    "axe-core": (
        Copied("axe-core", "axe.min.js", "axe.min.js"),
        Copied("axe-core", "LICENSE", "LICENSE.txt"),
        Copied("axe-core", "LICENSE-3RD-PARTY.txt", "LICENSE-3RD-PARTY.txt"),
    ),
    # The service worker (static/sw.js) loads these with importScripts: each attaches its
    # module to ``self.workbox``, core first.  One licence: the four share it.
    "workbox": (
        Copied("workbox-core", "build/workbox-core.prod.js", "workbox-core.prod.js"),
        Copied("workbox-routing", "build/workbox-routing.prod.js", "workbox-routing.prod.js"),
        Copied("workbox-strategies", "build/workbox-strategies.prod.js",
               "workbox-strategies.prod.js"),
        Copied("workbox-precaching", "build/workbox-precaching.prod.js",
               "workbox-precaching.prod.js"),
        Copied("workbox-core", "LICENSE", "LICENSE.txt"),
    ),
}


class VendorError(Exception):
    """The vendored files do not match the lockfile, or npm could not install them."""


def locked_packages(lockfile: Path = LOCKFILE) -> dict[str, dict[str, str]]:
    """``{package: {"version", "integrity"}}`` of every package the lockfile installs."""
    lock = json.loads(lockfile.read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for key, entry in lock["packages"].items():
        if key.startswith("node_modules/") and "/node_modules/" not in key:
            out[key.removeprefix("node_modules/")] = {
                "version": entry["version"], "integrity": entry["integrity"]}
    return out


def sha256(path: Path) -> str:
    """The file's SHA-256 as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_packages(folder: str, locked: dict[str, dict[str, str]]
                    ) -> dict[str, dict[str, str]]:
    """The lockfile's version and integrity of each package ``folder``'s files come from."""
    names = sorted({f.package for f in VENDORED[folder]})
    missing = [name for name in names if name not in locked]
    if missing:
        raise VendorError(f"{LOCKFILE.name} does not install {', '.join(missing)}: "
                          f"add it to frontend/package.json and run `make vendor`")
    return {name: locked[name] for name in names}


def copy(locked: dict[str, dict[str, str]]) -> None:
    """Copy every vendored file from ``node_modules`` and record it in the manifests."""
    for folder, files in VENDORED.items():
        packages = source_packages(folder, locked)
        for package, pinned in packages.items():
            installed = json.loads((MODULES / package / "package.json").read_text("utf-8"))
            if installed["version"] != pinned["version"]:
                raise VendorError(f"node_modules has {package} {installed['version']}, the "
                                  f"lockfile {pinned['version']}: run npm ci")
        target = VENDOR / folder
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        recorded: dict[str, dict[str, str]] = {}
        for item in files:
            shutil.copyfile(MODULES / item.package / item.source, target / item.name)
            recorded[item.name] = {"from": f"{item.package}/{item.source}",
                                   "sha256": sha256(target / item.name)}
        manifest = {"packages": packages, "files": recorded}
        (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def check(locked: dict[str, dict[str, str]] | None = None, vendor: Path = VENDOR) -> list[str]:
    """Every way the files under ``vendor`` differ from the lockfile (empty if none)."""
    locked = locked_packages() if locked is None else locked
    problems: list[str] = []
    for folder, copied in VENDORED.items():
        target = vendor / folder
        manifest_path = target / MANIFEST
        if not manifest_path.is_file():
            problems.append(f"{folder}: {manifest_path} is missing")
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        packages = source_packages(folder, locked)
        if manifest.get("packages") != packages:
            problems.append(f"{folder}: copied from {manifest.get('packages')}, but the "
                            f"lockfile has {packages}")
        files: dict[str, dict[str, str]] = manifest.get("files", {})
        wanted = {f.name: f"{f.package}/{f.source}" for f in copied}
        if {name: f.get("from") for name, f in files.items()} != wanted:
            problems.append(f"{folder}: the manifest lists {sorted(files)}, "
                            f"vendor.py copies {sorted(wanted)}")
        present = {p.name for p in target.iterdir()} - {MANIFEST}
        if present - files.keys():
            problems.append(f"{folder}: files not from npm: {sorted(present - files.keys())}")
        for name, recorded in files.items():
            path = target / name
            if not path.is_file():
                problems.append(f"{folder}/{name} is missing")
            elif sha256(path) != recorded.get("sha256"):
                problems.append(f"{folder}/{name} differs from the copy npm installed")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Install and copy (default), or only ``--check`` the committed copies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check the committed files against the lockfile (no npm)")
    args = parser.parse_args(argv)
    try:
        locked = locked_packages()
        if not args.check:
            if shutil.which("npm") is None:
                raise VendorError("npm is not installed (apt-get install npm); the committed "
                                  "copies can still be checked with --check")
            subprocess.run(NPM_CI, cwd=FRONTEND, check=True)  # noqa: S603 - fixed command
            copy(locked)
        problems = check(locked)
    except (VendorError, subprocess.CalledProcessError) as error:
        print(f"vendor: {error}", file=sys.stderr)
        return 1
    if problems:
        print("vendor: the files in src/shequ/web/static/vendor do not match "
              "frontend/package-lock.json (run `make vendor`):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    versions = ", ".join(f"{p} {v['version']}" for p, v in sorted(locked.items()))
    print(f"vendor: {'checked' if args.check else 'copied'} {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
