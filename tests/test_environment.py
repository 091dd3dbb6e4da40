"""One dependency source: the lock, environment.yml and pyproject.toml must agree."""
from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata

import pytest

PIN = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)\s*$")


def read_pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_installs_exactly_the_lock(repo_root):
    lock = read_pins(repo_root / "requirements.lock")
    env = read_pins(repo_root / "environment.yml")
    assert len(lock) > 100
    only_lock = sorted(set(lock) - set(env))
    only_env = sorted(set(env) - set(lock))
    differ = sorted(name for name in set(lock) & set(env) if lock[name] != env[name])
    assert not (only_lock or only_env or differ), (
        f"environment.yml and requirements.lock disagree: only in the lock {only_lock}, only in "
        f"environment.yml {only_env}, different versions {differ}. Regenerate both with `make lock`."
    )


def test_environment_yml_python_matches_lock_header(repo_root):
    header = (repo_root / "requirements.lock").read_text().splitlines()[1]
    python = re.search(r"CPython (\d+\.\d+)", header).group(1)
    assert f"python={python}" in (repo_root / "environment.yml").read_text()


def test_every_declared_dependency_is_locked(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    lock = read_pins(repo_root / "requirements.lock")
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    names = [re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in declared]
    missing = [n for n in names if n not in lock]
    assert not missing, f"declared in pyproject.toml but not in requirements.lock: {missing}; run `make lock`"


def test_distribution_name_does_not_clash_with_pypi_medkit_packages(repo_root):
    name = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["name"]
    assert name not in {"medkit", "medkit-lib", "medkit-learn", "medkit-sdk", "medkit-rs"}


@pytest.mark.parametrize("package", ["tensorflow", "keras", "keras-hub", "librosa", "jupyter-book", "papermill"])
def test_installed_versions_are_the_locked_ones(repo_root, package):
    lock = read_pins(repo_root / "requirements.lock")
    assert metadata.version(package) == lock[package], f"{package} in this venv differs from the lock: run `make setup`"


def test_python_is_new_enough():
    assert sys.version_info >= (3, 11)
