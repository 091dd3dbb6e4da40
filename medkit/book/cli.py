"""``python -m medkit <command>``: the kit's command line.

Each command lives in its own module, which exposes ``add_arguments(parser)``
and ``main(args) -> int``; this file only lists them, so modules can be added
without touching one another.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("medkit.book.runner", "execute the notebooks with papermill into _build/executed/"),
    "i18n": ("medkit.book.i18n", "Chinese edition: translated, stale, missing"),
    "site": ("medkit.book.site", "build the site (English, Chinese in zh/) from the executed notebooks"),
    "warmup": ("medkit.book.warmup", "compile librosa's numba kernels once so notebooks start fast"),
    "synth": ("medkit.synth", "write a synthetic multimodal pneumonia cohort"),
    "repro": ("medkit.book.repro", "compare glued values with reproducibility/expected.json"),
    "student": ("medkit.classroom.student", "write student versions of the notebooks (solutions stubbed)"),
    "lab": ("medkit.book.reader", "write reader copies of the chapters for JupyterLab and start JupyterLab"),
    "grade": ("medkit.classroom.grade", "grade student submissions into grades.csv"),
    "predict": ("medkit.deploy", "predict new patients from raw files with an exported model bundle"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    argv = sys.argv[1:] if argv is None else argv
    # Import only the module of the command asked for: some pull in TensorFlow.
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(cmd)
    args = parser.parse_args(argv)
    return int(modules[args.command].main(args) or 0)
