"""What authors and CI use to run, check and publish the book; no chapter teaches it.

- :mod:`medkit.book.cli`: ``python -m medkit <command>``, the command line;
- :mod:`medkit.book.runner`: ``run``, execute the notebooks with papermill;
- :mod:`medkit.book.site`: ``site``, build the Jupyter Book from the executed notebooks;
- :mod:`medkit.book.sphinxext`: the site's Sphinx extension (author-year references, search from file://);
- :mod:`medkit.book.repro`: ``repro``, compare the glued values with ``reproducibility/expected.json``;
- :mod:`medkit.book.calibration`: ``repro --calibrate``, tolerances from measured spreads;
- :mod:`medkit.book.errata`: the rows of the errata table, read from ``book/errata.json``;
- :mod:`medkit.book.warmup`: ``warmup``, compile librosa's numba kernels once.
"""
