"""Helpers for the data tests: a small generated cohort and ways to break it."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from medkit.synth import generate_cohort

SMALL_N = 12


def make_small_cohort(root: Path, n: int = SMALL_N, seed: int = 0) -> Path:
    """Generate a small cohort (same code path as the bundled one) under ``root``."""
    generate_cohort(root, n=n, seed=seed)
    return root


def copy_cohort(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def read_rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(manifest: Path, rows: list[dict[str, str]]) -> None:
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def edit_row(manifest: Path, index: int, **changes: str) -> dict[str, str]:
    """Change fields of data row ``index`` (0-based) of a manifest; return the edited row."""
    rows = read_rows(manifest)
    rows[index].update(changes)
    write_rows(manifest, rows)
    return rows[index]
