"""The build progress tracker that TensorRT's IProgressMonitor drives (engine/build.py).

TensorRT calls the monitor from several internal threads and reuses phase names under
different parents, so these tests drive a real rich Progress from many threads at once
(no TensorRT involved: the tracker is plain Python, the monitor class only forwards)."""

from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.progress import Progress

from trt_gif2video.engine.build import PhaseTracker


def _progress() -> Progress:
    return Progress(console=Console(file=open("/dev/null", "w"), force_terminal=False))


def test_same_name_under_two_parents_is_two_phases():
    progress = _progress()
    tracker = PhaseTracker(progress)
    tracker.phase_start("Building", None, 2)
    tracker.phase_start("Tactics", "Building", 10)
    tracker.phase_start("Calibration", None, 1)
    tracker.phase_start("Tactics", "Calibration", 4)  # same name, other hierarchy
    assert set(tracker.active) == {(None, "Building"), ("Building", "Tactics"), (None, "Calibration"), ("Calibration", "Tactics")}
    descriptions = sorted(t.description for t in progress.tasks)
    assert descriptions == ["  Tactics", "  Tactics", "Building", "Calibration"]
    tracker.step_complete("Tactics", 2)  # the newest "Tactics"
    done = {t.total: t.completed for t in progress.tasks if t.description.strip() == "Tactics"}
    assert done == {4: 3, 10: 0}
    tracker.phase_finish("Tactics")
    assert ("Calibration", "Tactics") not in tracker.active and ("Building", "Tactics") in tracker.active
    tracker.phase_finish("Tactics")
    tracker.phase_finish("Building")
    tracker.phase_finish("Calibration")
    assert tracker.active == () and progress.tasks == []


def test_the_same_phase_in_two_parallel_builds_is_two_tasks():
    progress = _progress()
    tracker = PhaseTracker(progress)
    tracker.phase_start("Building", None, 1)
    tracker.phase_start("Building", None, 1)  # a second build, same hierarchy names
    assert tracker.active == ((None, "Building"), (None, "Building")) and len(progress.tasks) == 2
    tracker.phase_finish("Building")
    tracker.phase_finish("Building")
    assert tracker.active == () and progress.tasks == []


def test_unknown_phases_never_raise_into_tensorrt():
    tracker = PhaseTracker(_progress())
    assert tracker.step_complete("never started", 0) is True  # True: do not cancel the build
    tracker.phase_finish("never started")
    tracker.phase_start("Child", "parent that was never started", 1)
    assert tracker.active == (("parent that was never started", "Child"),)


def test_many_threads_start_step_and_finish_without_losing_a_phase():
    progress = _progress()
    tracker = PhaseTracker(progress)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for round_ in range(200):
                parent = f"Builder {i}"
                tracker.phase_start(parent, None, 3)
                tracker.phase_start("Timing", parent, 5)  # same child name in every thread
                for step in range(5):
                    assert tracker.step_complete("Timing", step) is True
                tracker.phase_finish("Timing")
                tracker.phase_finish(parent)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as TensorRT's native threads would interleave
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert tracker.active == () and progress.tasks == []


def test_close_removes_what_a_failed_build_left_and_is_idempotent():
    progress = _progress()
    tracker = PhaseTracker(progress)
    tracker.phase_start("Building", None, 2)
    tracker.phase_start("Tactics", "Building", 10)
    tracker.close()
    assert tracker.active == () and progress.tasks == []
    tracker.close()
    tracker.phase_finish("Tactics")  # a late callback after close
    assert progress.tasks == []
