"""How many CPU threads training uses: measured while it trains, not read off the core count.

Why: the model is small, so every operation is short and torch's threads wait for each other
at the end of each one. On an idle machine all cores are fastest; with one other CPU-bound
process on a 2-core machine, one of two threads is often descheduled and the other spins
waiting for it (measured on a 2-core machine: an epoch took 7.3 s idle, 27.2 s loaded with two
threads and 11.3 s loaded with one). Only measuring tells the two cases apart, and the load can change
mid-run.

So ``AdaptiveThreads`` times short windows of training steps at each candidate count (all
cores, half of them, ..., one), keeps the fastest, watches its throughput, and probes again
when that drops below ``DROP_RATIO`` of what the probe saw, and anyway every so often (the
interval doubles while the choice holds, so an idle machine pays a fraction of a percent).
``FixedThreads`` is ``--threads N``: that count throughout, nothing measured.

Determinism: torch sums in a different order at different thread counts, so a run whose
thread count changes differs from another run of the same seed in the last bits of a float,
and training then carries the difference on (to seed-noise sizes of accuracy, not to a
different recipe). ``--threads N`` keeps a seed reproducible and a resumed run equal to an
uninterrupted one; see docs/mnist.md.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch

# Steps per timed window: at batch 64 about half a second on a 2-core CPU, long enough to
# average over the scheduler's time slices, short enough that a bad count costs little.
WINDOW_STEPS = 16
# Steps of running at the chosen count before the next probe; doubled each time a probe
# confirms the choice, up to MAX_PROBE_INTERVAL (about one epoch at batch 64). A load that
# goes away need not speed up the count in use (one thread had a core to itself), so only
# these periodic probes find that more threads pay again. A probe at 2 cores costs about 17
# steps at the losing count: at most about 1% of an idle machine's time.
FIRST_PROBE_INTERVAL = 256
MAX_PROBE_INTERVAL = 1024
# A window this much slower (or 1/DROP_RATIO faster) than the chosen count's probe means the
# machine changed: probe now.
DROP_RATIO = 0.7


def candidate_counts(most: int) -> list[int]:
    """most, most // 2, ..., 1: the counts worth timing (most first, the idle machine's pick)."""
    counts = []
    while most >= 1:
        counts.append(most)
        most //= 2
    if counts[-1] != 1:
        counts.append(1)
    return counts


class FixedThreads:
    """--threads N: one count for the whole run, chosen by the user; reproducible."""

    mode = "fixed"

    def __init__(self, threads: int, set_threads: Callable[[int], None] = torch.set_num_threads) -> None:
        self.threads = threads
        set_threads(threads)
        self._steps = 0

    def begin(self) -> None:
        """Nothing to reset: a fixed count measures nothing."""

    def after_step(self, images: int) -> None:
        self._steps += 1

    def epoch_record(self) -> dict:
        """This epoch's steps per thread count (all at the fixed one), then start counting anew."""
        record = {
            "steps_per_thread_count": {str(self.threads): self._steps},
            "probes": 0,
            "threads_at_end": self.threads,
        }
        self._steps = 0
        return record


class AdaptiveThreads:
    """Picks the fastest thread count by timing windows of real training steps.

    Call ``begin()`` before a stretch of steps (each epoch: the time between epochs is not
    training) and ``after_step(images)`` after every optimiser step.
    """

    mode = "adaptive"

    def __init__(
        self,
        candidates: list[int],
        clock: Callable[[], float] = time.perf_counter,
        set_threads: Callable[[int], None] = torch.set_num_threads,
    ) -> None:
        self.candidates = list(candidates)
        self._clock, self._set_threads = clock, set_threads
        self._interval = FIRST_PROBE_INTERVAL
        self._probe_rates: dict[int, float] = {}
        self._to_probe: list[int] = []
        self._steps_to_probe = 0
        self._probes = 0
        self._steps: Counter[int] = Counter()
        self._probing = False
        self._batch = 0  # the largest step seen: an epoch's short last batch is no yardstick
        self.chosen: int | None = None
        # The first probe starts at the fewest threads: on a crowded machine the most threads
        # lose badly, and a probe that starts with a fast count can cut the slow ones short.
        self.threads = min(self.candidates)
        set_threads(self.threads)
        self._start_probe()

    def _switch(self, threads: int, now: float | None = None) -> None:
        if threads != self.threads:
            self._set_threads(threads)
            self.threads = threads
        self.begin()  # the first step at a new count warms its threads up: not timed
        self._switched_at = now  # ...but it counts when deciding that a probe already lost

    def _start_probe(self, now: float | None = None) -> None:
        # The current count first: no switch, and it is re-measured under today's conditions.
        self._to_probe = [self.threads] + [c for c in self.candidates if c != self.threads]
        self._probe_rates = {}
        self._probing = True
        self._probes += 1
        self._switch(self._to_probe.pop(0), now)

    def begin(self) -> None:
        """Forget the window in progress: what happened since the last step was not training."""
        self._window_start: float | None = None
        self._switched_at: float | None = None
        self._window_steps = self._window_images = self._images_since_switch = 0

    def _already_lost(self, now: float) -> bool:
        """True when the count being probed has taken longer than the best probed count took
        for a whole window: a loaded machine can make a losing count ten times slower, and
        finishing its window would cost that much."""
        if not (self._probing and self._probe_rates and self._switched_at is not None):
            return False
        return (now - self._switched_at) * max(self._probe_rates.values()) > WINDOW_STEPS * self._batch

    def after_step(self, images: int) -> None:
        """Account one optimiser step of `images` images; may change torch's thread count."""
        self._steps[self.threads] += 1
        self._batch = max(self._batch, images)
        now = self._clock()
        if self._switched_at is None:
            self._switched_at = now
        else:
            self._images_since_switch += images
        if self._already_lost(now):
            self._probe_window(self._images_since_switch / (now - self._switched_at), now)
            return
        if self._window_start is None:
            self._window_start = now
            return
        self._window_steps += 1
        self._window_images += images
        if self._window_steps < WINDOW_STEPS:
            return
        rate = self._window_images / max(now - self._window_start, 1e-9)
        self._window_start, self._window_steps, self._window_images = now, 0, 0
        if self._probing:
            self._probe_window(rate, now)
        else:
            self._run_window(rate, now)

    def _probe_window(self, rate: float, now: float) -> None:
        self._probe_rates[self.threads] = rate
        if self._to_probe:
            self._switch(self._to_probe.pop(0), now)
            return
        best = max(self._probe_rates, key=self._probe_rates.__getitem__)
        if best == self.chosen:
            self._interval = min(2 * self._interval, MAX_PROBE_INTERVAL)
        else:
            self._interval = FIRST_PROBE_INTERVAL
        self.chosen, self._probing = best, False
        self._steps_to_probe = self._interval
        self._switch(best, now)

    def _run_window(self, rate: float, now: float) -> None:
        self._steps_to_probe -= WINDOW_STEPS
        probed = self._probe_rates[self.threads]
        if rate < DROP_RATIO * probed or rate * DROP_RATIO > probed:
            self._interval = FIRST_PROBE_INTERVAL // 2  # doubled back if the choice holds
            self._start_probe(now)
        elif self._steps_to_probe <= 0:
            self._start_probe(now)

    def epoch_record(self) -> dict:
        """This epoch's steps per thread count and probes started, then start counting anew."""
        record = {
            "steps_per_thread_count": {str(k): v for k, v in sorted(self._steps.items(), reverse=True)},
            "probes": self._probes,
            "threads_at_end": self.threads,
        }
        self._steps.clear()
        self._probes = 0
        return record


def thread_policy(threads: int, device: torch.device) -> FixedThreads | AdaptiveThreads:
    """--threads N (N >= 1) fixes the count; with 0, the default, a CPU run adapts between 1 and
    torch's current count (so OMP_NUM_THREADS or torch.set_num_threads still cap it), and an
    accelerator run keeps torch's count (its CPU side only feeds the device: timing steps would
    time the device)."""
    if threads > 0:
        return FixedThreads(threads)
    if device.type != "cpu":
        return FixedThreads(torch.get_num_threads())
    return AdaptiveThreads(candidate_counts(torch.get_num_threads()))
