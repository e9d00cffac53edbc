"""What `build` checks and shows before TensorRT is touched (no TensorRT needed).

`lint_specs` runs the TensorRT lint (engine/lint.py) on every spec at its min, opt and max
shapes, then checks the recipe's memory budget against all networks together (restore holds
one plan of each network at once; of the dequantizer's two variants one is loaded).
`trtexec_command` is the equivalent `trtexec` line, which Jetson users reach for when a
build fails.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .lint import MIB, LintReport, lint_model

# Execution contexts the TensorRT runtime creates per plan: one, since the stages only call
# infer() (submit, then collect) and a second context would double memory without overlap.
CONTEXTS_PER_PLAN = 1
PROFILE_POINTS = ("min", "opt", "max")
MAX_SHOWN = 3  # findings listed per report by --dry-run


@dataclass(frozen=True)
class SpecLint:
    """The lint of one build spec at its min, opt and max shapes."""

    spec: object  # build.BuildSpec (not imported: build imports this module)
    reports: tuple[LintReport, LintReport, LintReport]

    @property
    def at_max(self) -> LintReport:
        return self.reports[2]


@dataclass(frozen=True)
class RecipeLint:
    specs: tuple[SpecLint, ...]
    total_bytes: int  # activations of all networks together, at max
    budget_bytes: int | None

    def summary(self) -> str:
        if self.budget_bytes is None:
            return f"all networks together: activations {self.total_bytes / MIB:.0f} MiB at max; no budget declared"
        verdict = "fits" if self.total_bytes <= self.budget_bytes else "EXCEEDS"
        return (f"all networks together: activations {self.total_bytes / MIB:.0f} MiB at max {verdict} the "
                f"recipe's budget of {self.budget_bytes / MIB:.0f} MiB")

    @property
    def ok(self) -> bool:
        fits = self.budget_bytes is None or self.total_bytes <= self.budget_bytes
        return fits and all(r.ok for one in self.specs for r in one.reports)


def lint_spec(spec, contexts: int = CONTEXTS_PER_PLAN, budget_bytes: int | None = None) -> SpecLint:
    """Lint one spec at each profile point; the memory budget applies at the max point."""
    reports = []
    for point, label in enumerate(PROFILE_POINTS):
        shapes = {name: tuple(shapes[point]) for name, shapes in spec.profile.items()}
        budget = budget_bytes if label == "max" else None
        reports.append(lint_model(spec.onnx, shapes, contexts=contexts, budget_bytes=budget,
                                  name=f"{spec.onnx.name} [{label}]"))
    return SpecLint(spec, tuple(reports))


def lint_specs(recipe, specs: list, contexts: int = CONTEXTS_PER_PLAN, raise_errors: bool = True) -> RecipeLint:
    """Lint every spec (one-line ModelError on the first finding when `raise_errors`), then the budget."""
    budget = None if recipe.memory_budget_mib is None else recipe.memory_budget_mib * MIB
    linted = []
    for spec in specs:
        one = lint_spec(spec, contexts, budget)
        if raise_errors:
            for report in one.reports:
                report.raise_first()
        linted.append(one)
    # one plan per network is alive at a time: the larger dequantizer variant counts
    per_network: dict[str, int] = {}
    for one in linted:
        network = _network_of(one.spec.name)
        per_network[network] = max(per_network.get(network, 0), one.at_max.memory_bytes)
    total = sum(per_network.values())
    result = RecipeLint(tuple(linted), total, budget)
    if raise_errors and budget is not None and total > budget:
        parts = ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in per_network.items())
        raise ModelError(f"recipe {recipe.target}: breaks TensorRT rule memory-budget: all networks at their max "
                         f"profiles need {total / MIB:.0f} MiB of activations ({parts}), the recipe's "
                         f"memory_budget_mib is {recipe.memory_budget_mib}; shrink the max shapes or raise the budget")
    return result


def _network_of(stem: str) -> str:
    return stem.split("_")[0] if stem.startswith("dequant_") else stem


def trtexec_command(spec, recipe, *, cache_dir: Path, device: int = 0) -> str:
    """The `trtexec` line that builds the same plan as `build` for `spec` (TensorRT 10.x/11.x flags).

    Strongly typed: the precision comes from the ONNX file itself (FP16 / Q/DQ INT8), as in `build`.
    """
    def shapes(point: int) -> str:
        return ",".join(f"{name}:{'x'.join(map(str, dims[point]))}" for name, dims in spec.profile.items())

    plan = Path(cache_dir) / f"{spec.name}.{recipe.target}.{spec.precision.value}.plan"
    args = [
        "trtexec",
        f"--onnx={spec.onnx}",
        f"--minShapes={shapes(0)}",
        f"--optShapes={shapes(1)}",
        f"--maxShapes={shapes(2)}",
        "--stronglyTyped",
        f"--memPoolSize=workspace:{spec.options.workspace_mib}M",
        f"--builderOptimizationLevel={spec.options.builder_optimization_level}",
        f"--timingCacheFile={Path(cache_dir) / 'trtexec-timing.cache'}",
        f"--saveEngine={plan}",
    ]
    if device:
        args.append(f"--device={device}")
    if spec.options.version_compatible:
        args.append("--versionCompatible")
    if spec.options.dla_core is not None:
        args += [f"--useDLACore={spec.options.dla_core}", "--allowGPUFallback"]
    return shlex.join(args)


def dry_run_lines(recipe, specs: list, *, cache_dir: Path, device: int = 0,
                  contexts: int = CONTEXTS_PER_PLAN) -> tuple[list[str], bool]:
    """Per network: the lint summary at min/opt/max and the trtexec line; then the recipe total.

    Returns (lines, ok): ok is False when any rule fails.
    """
    result = lint_specs(recipe, specs, contexts, raise_errors=False)
    lines = [f"recipe {recipe.target} ({recipe.precision.value}): {recipe.description}"]
    for one in result.specs:
        lines.append(f"{one.spec.name}:")
        for report in one.reports:
            lines.append(f"  lint {report.summary()}")
            lines.extend(f"    {finding.line()}" for finding in report.findings[:MAX_SHOWN])
            if len(report.findings) > MAX_SHOWN:
                lines.append(f"    ... and {len(report.findings) - MAX_SHOWN} more")
        lines.append(f"  {trtexec_command(one.spec, recipe, cache_dir=cache_dir, device=device)}")
    lines.append(result.summary())
    return lines, result.ok
