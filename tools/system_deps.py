"""The system packages medkit uses beyond Python, and their installation (``make setup`` runs this).

    python tools/system_deps.py            # install what is missing where apt-get may be used, else say how
    python tools/system_deps.py --check    # only say what is present and what is missing (installs nothing)

- ``bubblewrap`` (``bwrap`` on the PATH): the sandbox of ``medkit grade``, and its tests;
- ``chromium`` (or any Chrome on the PATH, or ``$CHROMIUM``): the real-browser check of the site;
- ``fonts-wqy-microhei`` (any font with Chinese glyphs): Chinese text in that browser's screenshots.

None of them is needed to build the book. ``make test`` never installs anything: the tests that need
a missing package are skipped and say which package and how to install it. Installing needs apt-get
(Debian, Ubuntu) and root; elsewhere this script prints the command to run, and exits 0 either way
unless ``--strict`` is given (then 1 when something is still missing).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def _cjk_font() -> str | None:
    if shutil.which("fc-list") is None:
        return None
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out.strip() else None


@dataclass(frozen=True)
class Package:
    apt: str  # the Debian/Ubuntu package
    what: str  # what medkit uses it for
    other: str  # how to get it elsewhere

    def found(self) -> str | None:
        """Where it is (a path or a font name), or ``None``."""
        if self.apt == "bubblewrap":
            return shutil.which("bwrap")
        if self.apt == "chromium":
            return _browser()
        return _cjk_font()


PACKAGES = (
    Package("bubblewrap", "the sandbox of `medkit grade` (without it: `--no-sandbox`, and its tests are skipped)",
            "Fedora: sudo dnf install bubblewrap; Arch: sudo pacman -S bubblewrap"),
    Package("chromium", "the real-browser check of the site (without it that test is skipped)",
            "any Chromium or Chrome: put it on the PATH or set CHROMIUM=/path/to/it"),
    Package("fonts-wqy-microhei", "a Chinese font for the browser's screenshots (else the glossary shows boxes)",
            "any font with Chinese glyphs (Noto Sans CJK)"),
)


def apt_install(names: list[str]) -> tuple[bool, str]:
    """``apt-get install`` the packages (after ``apt-get update`` if the first try fails)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *names]
    log = []
    for cmd in (install, ["apt-get", "update", "-q"], install):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        log.append(f"`{' '.join(cmd[:3])} ...` exit {proc.returncode}: {last[0]}")
        if cmd[1] == "install" and proc.returncode == 0:
            return True, "installed with apt-get"
    return False, "; ".join(log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report, install nothing")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a package is still missing")
    args = parser.parse_args(argv)

    missing = [p for p in PACKAGES if p.found() is None]
    for p in PACKAGES:
        where = p.found()
        print(f"  {p.apt:<19} {'found: ' + where if where else 'MISSING'}")
    if missing and not args.check:
        names = [p.apt for p in missing]
        if shutil.which("apt-get") is None:
            why = "there is no apt-get here (not Debian/Ubuntu)"
        elif os.geteuid() != 0:
            why = "installing needs root"
        else:
            print(f"installing {' '.join(names)} with apt-get (a few minutes the first time) ...", flush=True)
            done, why = apt_install(names)
            if not done:
                print(f"could not install {' '.join(names)}: {why}")
            missing = [p for p in PACKAGES if p.found() is None]
        if missing and why in ("installing needs root", "there is no apt-get here (not Debian/Ubuntu)"):
            print(f"not installed: {why}.")
    for p in missing:
        print(f"MISSING {p.apt}: {p.what}.\n    install: sudo apt-get install {p.apt}  ({p.other})")
    if not missing:
        print("all system packages present")
    return 1 if missing and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
