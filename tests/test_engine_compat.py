"""Plan version rules (engine/compat.py), pure logic: a plain plan runs only on the TensorRT
that built it; a version-compatible plan also on a newer one of the same major (or 8 -> 10,
10 -> 11, the cross-major steps NVIDIA's 11.4 support matrix lists), never on an older one."""

from __future__ import annotations

import pytest

from trt_gif2video.engine.compat import parse_version, plan_version_problem


@pytest.mark.parametrize("built, runtime", [
    ("10.3.0", "10.3.0"),
    ("10.13.3.9", "10.13.3.9.post1"),  # same build, packaging suffix
])
def test_the_same_version_always_runs(built, runtime):
    assert plan_version_problem(built, runtime, version_compatible=False) is None
    assert plan_version_problem(built, runtime, version_compatible=True) is None


@pytest.mark.parametrize("built, runtime", [("10.3.0", "10.13.3.9"), ("10.13.3.9", "10.16.1.11"), ("11.0.0", "11.4.0.106")])
def test_version_compatible_plans_run_forward_within_a_major(built, runtime):
    assert plan_version_problem(built, runtime, version_compatible=True) is None
    plain = plan_version_problem(built, runtime, version_compatible=False)
    assert plain == f"it was built by TensorRT {built} and runs only on that version (this machine has {runtime})"


@pytest.mark.parametrize("built, runtime", [("10.13.3.9", "10.3.0"), ("10.13.3.9", "10.13.0.35"), ("11.4.0.106", "11.0.0")])
def test_a_plan_from_a_newer_tensorrt_never_runs_on_an_older_one(built, runtime):
    problem = plan_version_problem(built, runtime, version_compatible=True)
    assert problem == (f"it was built by TensorRT {built}, newer than this machine's {runtime}: "
                       "plans run only on the same or a newer TensorRT")


def test_across_majors_only_the_supported_steps_run():
    assert plan_version_problem("10.13.3.9", "11.4.0.106", version_compatible=True) is None  # 10 -> 11
    assert plan_version_problem("8.6.1", "10.3.0", version_compatible=True) is None  # 8 -> 10
    problem = plan_version_problem("8.6.1", "11.4.0.106", version_compatible=True)
    assert problem == ("it was built by TensorRT 8.6.1: TensorRT 11 does not run version-compatible plans "
                       "from TensorRT 8 (this machine has 11.4.0.106)")
    # forward-only across majors too
    assert "newer than this machine's 10.16.1.11" in plan_version_problem("11.4.0.106", "10.16.1.11", version_compatible=True)


def test_plans_from_before_version_compatibility_existed_are_refused():
    assert "before version-compatible plans existed (8.6)" in plan_version_problem("8.5.3", "8.6.1", version_compatible=True)


def test_comparison_is_numeric_not_textual():
    # "10.13" > "10.3" numerically; as strings it would sort the other way
    assert parse_version("10.13.3.9") > parse_version("10.3.0")
    assert plan_version_problem("10.3.0", "10.13.3.9", version_compatible=True) is None
