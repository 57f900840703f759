"""What every workflow script does first: log to the rule's log file, pin the numerics.

A script calls :func:`start` before it imports anything that loads numpy, so that the
numerics profile is in place when OpenBLAS and numpy load (the Snakefile sets the same
environment for every job it starts, locally and on SLURM nodes; this is the job's own
guarantee, and its check that the pin took effect).
"""

from __future__ import annotations

from . import logs, numerics


def start(snakemake):
    """Log to ``snakemake.log[0]`` and enforce ``snakemake.params.numerics``.

    Returns
    -------
    snakemake
        The same object, for ``sm = jobs.start(snakemake)``.

    Raises
    ------
    numerics.NumericsError
        If the kernels in use are not the profile's (nothing has been written yet).
    """
    logs.to_file(snakemake.log[0])
    numerics.enforce(snakemake.params.numerics)
    return snakemake
