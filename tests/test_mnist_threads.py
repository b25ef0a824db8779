"""The thread-count policy, driven by a simulated machine: a fake clock whose step time
depends on the thread count and on whether another process is busy."""

import pytest
import torch

import mnist.threads
from mnist.threads import AdaptiveThreads, FixedThreads, candidate_counts, thread_policy

IDLE = {2: 0.005, 1: 0.008}  # seconds per step: two threads win on an idle machine
BUSY = {2: 0.030, 1: 0.010}  # one competing process: two threads spin, one wins
CROWDED = {2: 0.300, 1: 0.010}  # heavier load: measured here at 11x between the counts


class FakeMachine:
    def __init__(self):
        self.now, self.set_calls = 0.0, []

    def clock(self):
        return self.now

    def set_threads(self, n):
        self.set_calls.append(n)


def simulate(load, steps, tuner_steps_per_epoch=938):
    """Run `steps` steps; load(step) gives the step-time table. Returns the tuner and the
    thread count used at every step."""
    machine = FakeMachine()
    tuner = AdaptiveThreads([2, 1], clock=machine.clock, set_threads=machine.set_threads)
    used = []
    for step in range(steps):
        if step % tuner_steps_per_epoch == 0:
            tuner.begin()
        used.append(tuner.threads)
        machine.now += load(step)[tuner.threads]
        tuner.after_step(64)
    return tuner, used, machine


@pytest.mark.parametrize(
    "name, load, window, expected_end, most_steps_at",
    [
        ("idle throughout", lambda s: IDLE, slice(0, 3000), 2, 2),
        ("busy throughout", lambda s: BUSY, slice(0, 3000), 1, 1),
        ("load arrives at step 1000", lambda s: IDLE if s < 1000 else BUSY, slice(1000, 3000), 1, 1),
        # A departing load is found by the next periodic probe, at most MAX_PROBE_INTERVAL steps on.
        ("load leaves at step 1000", lambda s: BUSY if s < 1000 else IDLE, slice(2100, 3000), 2, 2),
    ],
)
def test_the_fastest_count_wins_and_follows_the_load(name, load, window, expected_end, most_steps_at):
    tuner, used, _ = simulate(load, 3000)
    assert tuner.chosen == expected_end, name  # the last probe's pick
    share = used[window].count(most_steps_at) / len(used[window])
    assert share > 0.9, (name, share)


def test_a_drop_in_throughput_triggers_a_probe_within_a_few_windows():
    _, used, _ = simulate(lambda s: IDLE if s < 1000 else BUSY, 3000)
    first_one_thread_run = next(i for i in range(1000, 3000) if used[i] == 1)
    assert first_one_thread_run - 1000 <= 3 * mnist.threads.WINDOW_STEPS


def test_an_idle_machine_loses_little_time_to_probing():
    _, _, machine = simulate(lambda s: IDLE, 20_000)
    best = 20_000 * IDLE[2]
    assert (machine.now - best) / best < 0.015  # the simulated machine: 1% here


def test_fixed_threads_sets_once_and_records_only_that_count():
    calls = []
    policy = FixedThreads(3, set_threads=calls.append)
    for _ in range(5):
        policy.after_step(64)
    assert calls == [3]
    assert policy.epoch_record() == {"steps_per_thread_count": {"3": 5}, "probes": 0, "threads_at_end": 3}


@pytest.mark.parametrize("most, expected", [(1, [1]), (2, [2, 1]), (6, [6, 3, 1]), (16, [16, 8, 4, 2, 1])])
def test_candidate_counts_halve_down_to_one(most, expected):
    assert candidate_counts(most) == expected


def test_policy_choice():
    before = torch.get_num_threads()
    try:
        assert isinstance(thread_policy(1, torch.device("cpu")), FixedThreads)
        assert isinstance(thread_policy(0, torch.device("cpu")), AdaptiveThreads)
        accelerator = thread_policy(0, torch.device("cuda"))
        assert isinstance(accelerator, FixedThreads) and accelerator.threads == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_a_probe_of_a_much_slower_count_is_cut_short():
    """Finishing a window at a count 30x slower would cost 16 slow steps per probe."""
    _, used, machine = simulate(lambda s: CROWDED, 5000)
    best = 5000 * CROWDED[1]
    assert used.count(2) <= 8  # one step per probe (it already took longer than a window at 1)
    assert (machine.now - best) / best < 0.05  # 3.5% on this simulated machine
