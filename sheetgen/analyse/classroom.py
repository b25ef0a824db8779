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
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from sheetgen.machine import usable_cores

SHARES_PER_WORKER = 4  # so that a slow share at the end leaves the other cores little to wait for


@dataclass
class ClassResult:
    """Each file's Outcome in the order given, and the annotated copies written or refused."""

    outcomes: list
    copies: dict[Path, Path] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)


def find_submissions(
    given: list[Path], leave_out: list[Path] = ()
) -> tuple[list[tuple[Path, Path | None]], list]:
    """The files to check: each file as given, and every workbook inside each folder (sorted,
    sub-folders included, without hidden files and Office's "~$" lock files; links to folders
    are not followed, so a loop of links ends). A folder that cannot be read is not passed over
    in silence: it comes back as an Outcome with its reason, counted as a file that could not
    be checked.

    Args:
        given: files and folders, as the user named them.
        leave_out: files and folders not to take (what this command itself writes).

    Returns:
        ([(file, the folder it was found in, or None when given as a file)], [Outcome of each
        folder that could not be read])
    """
    from sheetgen.analyse.check import WORKBOOK_SUFFIXES, Outcome

    left_out = [Path(p).resolve() for p in leave_out]

    def wanted(path: Path) -> bool:
        where = path.resolve()
        return not any(where == w or w in where.parents for w in left_out)

    found: list[tuple[Path, Path | None]] = []
    unreadable: list = []
    for item in map(Path, given):
        if not item.is_dir():
            found.append((item, None))
            continue
        problems: list[OSError] = []
        files = []
        for folder, folders, names in os.walk(item, onerror=problems.append):
            folders.sort()
            files.extend(
                Path(folder) / name
                for name in names
                if Path(name).suffix.lower() in WORKBOOK_SUFFIXES and not name.startswith((".", "~$"))
            )
        found.extend((path, item) for path in sorted(files) if wanted(path) and path.is_file())
        for problem in problems:
            where = Path(problem.filename) if problem.filename else item
            reason = problem.strerror or str(problem)
            unreadable.append(Outcome(where, error=f"folder {where} cannot be read: {reason}"))
    return found, unreadable


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
    unreadable = {i: reason for i, path in enumerate(paths) if (reason := unreadable_file(path))}
    if unreadable:  # reported in their place; the rest checked as if they were all there were
        readable = [p for i, p in enumerate(paths) if i not in unreadable]
        rest = check_class(readable, copies, jobs, progress)
        from sheetgen.analyse.check import Outcome

        checked = iter(rest.outcomes)
        outcomes = []
        for i, path in enumerate(paths):
            if i in unreadable:
                outcomes.append(Outcome(path, error=f"{path} cannot be read: {unreadable[i]}"))
                if progress is not None:
                    progress(path)
            else:
                outcomes.append(next(checked))
        return ClassResult(outcomes, rest.copies, rest.failed)
    shares = _shares(len(paths), jobs)
    if jobs == 1 or len(shares) <= 1:
        return _check_share(paths, copies, progress)
    outcomes: list = [None] * len(paths)
    result = ClassResult(outcomes)
    # forkserver: workers start from a clean interpreter that has imported check once, not as
    # copies of a parent that may hold threads (fork) or re-import everything each (spawn)
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    left = {tuple(share) for share in shares}

    def take(share, done: ClassResult, report: bool) -> None:
        for i, outcome in zip(share, done.outcomes):
            outcomes[i] = outcome
            if report and progress is not None:
                progress(paths[i])
        result.copies.update(done.copies)
        result.failed.update(done.failed)
        left.discard(tuple(share))

    try:
        with ProcessPoolExecutor(max_workers=min(jobs, len(shares)), mp_context=context) as pool:
            futures = {
                pool.submit(_check_share, [paths[i] for i in share], _only(copies, paths, share)): share
                for share in shares
            }
            for future in as_completed(futures):
                take(futures[future], future.result(), report=True)
    except BrokenProcessPool:
        # a worker could not start or was killed (a main module workers cannot import, the
        # system out of memory): what is left is checked here, one share at a time
        for share in sorted(left):
            files = [paths[i] for i in share]
            take(share, _check_share(files, _only(copies, paths, list(share)), progress), report=False)
    result.copies = {p: result.copies[p] for p in paths if p in result.copies}
    return result


def unreadable_file(path: Path) -> str | None:
    """Why a submission cannot be opened for reading (permissions, gone), or None. A folder
    or anything else that is not a file is for check to refuse with its own reason."""
    try:
        with open(path, "rb"):
            return None
    except IsADirectoryError:
        return None
    except FileNotFoundError:
        return None  # check says "no such file" in its own words
    except OSError as exc:
        return exc.strerror or str(exc)


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
