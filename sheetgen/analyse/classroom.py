"""A class's submissions checked on every core: check_many and the annotated copies, in a pool
of processes, each taking a share of the files.

Each share is checked as check_many checks any list of files, so what needs LibreOffice is
still converted in batches (one LibreOffice start per batch of a share, each with a profile
of its own), and a file that cannot be checked is reported, never raised. The outcomes come
back in the order of the files given, the same as one process gives them.

Shares are small enough that the cores stay busy to the end (a few per core), and no smaller
than needed, since each costs a LibreOffice start where its files need one.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

SHARES_PER_WORKER = 4  # so that a slow share at the end leaves the other cores little to wait for


@dataclass
class ClassResult:
    """Each file's Outcome in the order given, and the annotated copies written or refused."""

    outcomes: list
    copies: dict[Path, Path] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_class(
    paths: list[Path],
    copies: dict[Path, Path] | None = None,
    jobs: int | None = None,
    progress=None,
) -> ClassResult:
    """check_many over the files, and (where copies names them) their annotated copies.

    Args:
        paths: the submissions.
        copies: submission -> where its annotated copy goes; None for no copies.
        jobs: processes to use; None for every usable core. One process (or one file) checks
            in this process.
        progress: called with each path as it is finished.

    Raises:
        CheckError: check cannot run at all (as check_many).
    """
    jobs = usable_cores() if jobs is None else max(1, jobs)
    shares = _shares(len(paths), jobs)
    if jobs == 1 or len(shares) <= 1:
        return _check_share(paths, copies, progress)
    outcomes: list = [None] * len(paths)
    result = ClassResult(outcomes)
    # forkserver: workers start from a clean interpreter that has imported check once, not as
    # copies of a parent that may hold threads (fork) or re-import everything each (spawn)
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(shares)), mp_context=context) as pool:
        futures = {
            pool.submit(_check_share, [paths[i] for i in share], _only(copies, paths, share)): share
            for share in shares
        }
        for future in as_completed(futures):
            share = futures[future]
            done = future.result()
            for i, outcome in zip(share, done.outcomes):
                outcomes[i] = outcome
                if progress is not None:
                    progress(paths[i])
            result.copies.update(done.copies)
            result.failed.update(done.failed)
    result.copies = {p: result.copies[p] for p in paths if p in result.copies}
    return result


def _shares(count: int, jobs: int) -> list[list[int]]:
    """The files' indices in contiguous shares: SHARES_PER_WORKER per process, each of at
    most check's LibreOffice batch."""
    from sheetgen.analyse.check import LIBREOFFICE_BATCH

    if count == 0:
        return []
    size = max(1, min(LIBREOFFICE_BATCH, math.ceil(count / (jobs * SHARES_PER_WORKER))))
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def _only(copies: dict | None, paths: list[Path], share: list[int]) -> dict | None:
    if copies is None:
        return None
    return {paths[i]: copies[paths[i]] for i in share if paths[i] in copies}


def _check_share(paths: list[Path], copies: dict | None, progress=None) -> ClassResult:
    from sheetgen.analyse.check import check_many

    outcomes = check_many(paths, progress=progress)
    if copies is None:
        return ClassResult(outcomes)
    from sheetgen.analyse.feedback import annotate_outcomes

    written, failed = annotate_outcomes(outcomes, copies)
    return ClassResult(outcomes, written, failed)
