"""Build recipes: one TOML file per target device in `build_engines/`.

A recipe fixes what a plan depends on besides the ONNX: per-network N/H/W ranges
(min/opt/max), precision, workspace cap, builder optimization level, DLA core,
version compatibility. Shapes are checked against the ONNX inputs and the
network stride (from the ONNX metadata) before TensorRT sees anything, because
TensorRT's own profile errors come minutes into a build and name no file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import Precision
from ..errors import BadArgumentError, ModelError
from ..models import Network

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

RECIPE_DIR = Path(__file__).resolve().parents[2] / "build_engines"


@dataclass(frozen=True)
class NHW:
    n: int
    h: int
    w: int

    def __str__(self) -> str:
        return f"{self.n}x{self.h}x{self.w}"


@dataclass(frozen=True)
class ShapeRange:
    """Batch, height and width limits of one optimization profile."""

    min: NHW
    opt: NHW
    max: NHW


@dataclass(frozen=True)
class NetworkRecipe:
    kind: Network
    shapes: ShapeRange
    dla_core: int | None = None  # None: GPU only


@dataclass(frozen=True)
class BuilderOptions:
    """Everything besides shapes and precision that changes a plan."""

    workspace_mib: int
    builder_optimization_level: int
    dla_core: int | None
    version_compatible: bool


@dataclass(frozen=True)
class DeviceMatch:
    """Which GPUs a shipped recipe is for (its `[device]` table), see `choose_recipe`."""

    compute_capabilities: tuple[tuple[int, int], ...] = ()  # exact matches (Jetson Orin: 8.7)
    min_compute_capability: tuple[int, int] | None = None  # or this and anything newer
    min_memory_gib: float = 0.0  # total GPU memory as the driver reports it (a "16 GB" card shows ~15.6)

    def exact(self, cc: tuple[int, int]) -> bool:
        return cc in self.compute_capabilities

    def at_least(self, cc: tuple[int, int]) -> bool:
        return self.min_compute_capability is not None and cc >= self.min_compute_capability


@dataclass(frozen=True)
class Recipe:
    target: str
    description: str
    precision: Precision
    workspace_mib: int
    builder_optimization_level: int
    version_compatible: bool
    networks: dict[Network, NetworkRecipe] = field(default_factory=dict)
    source: Path | None = None
    # activation memory all networks may use together (restore holds one plan of each at once),
    # checked by engine.lint at every max profile; None: not checked (user recipes)
    memory_budget_mib: int | None = None
    device: DeviceMatch | None = None

    def network(self, kind: Network) -> NetworkRecipe:
        if kind not in self.networks:
            raise BadArgumentError(f"recipe {self.target!r} has no [networks.{kind.value}] table")
        return self.networks[kind]

    def builder_options(self, kind: Network) -> BuilderOptions:
        net = self.network(kind)
        return BuilderOptions(self.workspace_mib, self.builder_optimization_level, net.dla_core, self.version_compatible)

    def with_overrides(
        self,
        *,
        precision: Precision | None = None,
        workspace_mib: int | None = None,
        builder_optimization_level: int | None = None,
        version_compatible: bool | None = None,
    ) -> Recipe:
        """The recipe with command-line options applied (None keeps the recipe's value)."""
        changes = {
            "precision": precision,
            "workspace_mib": workspace_mib,
            "builder_optimization_level": builder_optimization_level,
            "version_compatible": version_compatible,
        }
        updated = replace(self, **{k: v for k, v in changes.items() if v is not None})
        _check_options(updated, str(self.source or self.target))
        return updated


def available_targets() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def recipe_path(target: str) -> Path:
    path = RECIPE_DIR / f"{target}.toml"
    if not path.is_file():
        raise BadArgumentError(f"build target {target!r} is unknown: use one of {', '.join(available_targets())} or --recipe FILE")
    return path


def load_recipe(path: Path) -> Recipe:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadArgumentError(f"recipe {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadArgumentError(f"recipe {path}: not valid TOML ({exc})") from None
    where = str(path)
    try:
        recipe = Recipe(
            target=str(data.get("target", Path(path).stem)),
            description=str(data.get("description", "")),
            precision=Precision(data.get("precision", "fp16")),
            workspace_mib=int(data["workspace_mib"]),
            builder_optimization_level=int(data.get("builder_optimization_level", 3)),
            version_compatible=bool(data.get("version_compatible", False)),
            networks={_kind(k, where): _network(k, v, data.get("dla_core"), where) for k, v in data.get("networks", {}).items()},
            source=Path(path),
            memory_budget_mib=None if data.get("memory_budget_mib") is None else int(data["memory_budget_mib"]),
            device=_device(data["device"], where) if "device" in data else None,
        )
    except KeyError as exc:
        raise BadArgumentError(f"recipe {path}: missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise BadArgumentError(f"recipe {path}: {exc}") from None
    if not recipe.networks:
        raise BadArgumentError(f"recipe {path}: needs at least one [networks.<dequant|interp|dither>] table")
    _check_options(recipe, where)
    return recipe


def _cc(text: object, where: str) -> tuple[int, int]:
    try:
        major, minor = str(text).split(".")
        return int(major), int(minor)
    except ValueError:
        raise BadArgumentError(f"recipe {where}: compute capability {text!r} must look like \"8.7\"") from None


DEVICE_KEYS = ("compute_capability", "min_compute_capability", "min_memory_gib")


def _device(table: dict, where: str) -> DeviceMatch:
    # TOML puts every key after `[device]` into that table: a top-level key written below it lands here
    unknown = sorted(set(table) - set(DEVICE_KEYS))
    if unknown:
        raise BadArgumentError(f"recipe {where}: [device] has unknown key(s) {', '.join(unknown)} (it takes "
                               f"{', '.join(DEVICE_KEYS)}; top-level keys go above [device])")
    match = DeviceMatch(
        compute_capabilities=tuple(_cc(c, where) for c in table.get("compute_capability", ())),
        min_compute_capability=_cc(table["min_compute_capability"], where) if "min_compute_capability" in table else None,
        min_memory_gib=float(table.get("min_memory_gib", 0.0)),
    )
    if not match.compute_capabilities and match.min_compute_capability is None:
        raise BadArgumentError(f"recipe {where}: [device] needs compute_capability = [...] or min_compute_capability")
    return match


def _kind(key: str, where: str) -> Network:
    try:
        return Network(key)
    except ValueError:
        raise BadArgumentError(f"recipe {where}: unknown network {key!r} (use dequant, interp or dither)") from None


def _network(key: str, table: dict, default_dla: int | None, where: str) -> NetworkRecipe:
    def nhw(name: str) -> NHW:
        value = table.get(name)
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value)):
            raise BadArgumentError(f"recipe {where}: networks.{key}.{name} must be [N, H, W] integers")
        return NHW(*value)

    dla = table.get("dla_core", default_dla)
    shapes = ShapeRange(nhw("min"), nhw("opt"), nhw("max"))
    return NetworkRecipe(kind=Network(key), shapes=shapes, dla_core=None if dla is None or dla < 0 else int(dla))


def _check_options(recipe: Recipe, where: str) -> None:
    if recipe.workspace_mib <= 0:
        raise BadArgumentError(f"recipe {where}: workspace_mib must be > 0")
    if recipe.memory_budget_mib is not None and recipe.memory_budget_mib <= 0:
        raise BadArgumentError(f"recipe {where}: memory_budget_mib must be > 0")
    if not 0 <= recipe.builder_optimization_level <= 5:
        raise BadArgumentError(f"recipe {where}: builder_optimization_level must be in 0..5")
    for net in recipe.networks.values():
        _check_range(net.shapes, f"recipe {where}: networks.{net.kind.value}")
        if net.dla_core is None:
            continue
        # DLA has no FP32 kernels and no dynamic dimensions: anything else silently
        # falls back to the GPU, which defeats the point of asking for it.
        if recipe.precision is Precision.FP32:
            raise BadArgumentError(f"recipe {where}: networks.{net.kind.value} on DLA needs precision fp16 or int8")
        if not net.shapes.min == net.shapes.opt == net.shapes.max:
            raise BadArgumentError(f"recipe {where}: networks.{net.kind.value} on DLA needs min == opt == max (DLA has no dynamic shapes)")


def _check_range(shapes: ShapeRange, where: str) -> None:
    for axis in ("n", "h", "w"):
        lo, mid, hi = (getattr(s, axis) for s in (shapes.min, shapes.opt, shapes.max))
        if lo < 1:
            raise BadArgumentError(f"{where}: min {axis.upper()} must be >= 1")
        if not lo <= mid <= hi:
            raise BadArgumentError(f"{where}: {axis.upper()} needs min <= opt <= max (got {lo}, {mid}, {hi})")


# --- shapes against the ONNX file -----------------------------------------------------------


@dataclass(frozen=True)
class OnnxTensor:
    name: str
    dims: tuple[int | str | None, ...]  # int: fixed; str: named dynamic dim; None: unnamed dynamic
    elem_type: int  # onnx.TensorProto element type


@dataclass(frozen=True)
class OnnxInfo:
    path: Path
    inputs: tuple[OnnxTensor, ...]
    outputs: tuple[OnnxTensor, ...]
    metadata: dict[str, str]

    @property
    def stride(self) -> int:
        try:
            return int(self.metadata["stride"])
        except (KeyError, ValueError):
            raise ModelError(f"{self.path}: metadata_props needs an integer 'stride' (re-export the model)") from None


def read_onnx_info(path: Path) -> OnnxInfo:
    """Graph inputs (initializers excluded), outputs and metadata of an ONNX file."""
    import onnx  # on first use: the CLI imports this module for its choices, restore never needs onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelError(f"{path}: ONNX file not found (run the export step or pass --onnx-dir)") from None
    except Exception as exc:  # onnx raises DecodeError and friends from protobuf
        raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None

    def tensor(value) -> OnnxTensor:
        t = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        return OnnxTensor(value.name, dims, t.elem_type)

    initializers = {i.name for i in model.graph.initializer}
    return OnnxInfo(
        path=Path(path),
        inputs=tuple(tensor(v) for v in model.graph.input if v.name not in initializers),
        outputs=tuple(tensor(v) for v in model.graph.output),
        metadata={p.key: p.value for p in model.metadata_props},
    )


Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def profile_for(info: OnnxInfo, shapes: ShapeRange) -> Profile:
    """Per-input (min, opt, max) shapes, after checking the recipe fits the model.

    Image inputs are [N, H, W, C]; other inputs (palette, t) have N first and
    static remaining dims. H and W must be multiples of the network stride.
    """
    stride = info.stride
    for label, nhw in (("min", shapes.min), ("opt", shapes.opt), ("max", shapes.max)):
        if nhw.h % stride or nhw.w % stride:
            raise BadArgumentError(
                f"{info.path.name}: {label} shape {nhw.h}x{nhw.w} (HxW) must be a multiple of the network stride {stride}"
            )
    profile: Profile = {}
    for inp in info.inputs:
        profile[inp.name] = tuple(_input_shape(info, inp, nhw) for nhw in (shapes.min, shapes.opt, shapes.max))
    return profile


def _input_shape(info: OnnxInfo, inp: OnnxTensor, nhw: NHW) -> tuple[int, ...]:
    if not inp.dims:
        raise ModelError(f"{info.path.name}: input {inp.name!r} has no shape; the export must give it [N, ...]")
    wanted: list[int | None] = [nhw.n] + [None] * (len(inp.dims) - 1)
    if len(inp.dims) == 4:
        wanted[1], wanted[2] = nhw.h, nhw.w
    shape = []
    for axis, (have, want) in enumerate(zip(inp.dims, wanted)):
        fixed = isinstance(have, int)
        if want is None:
            if not fixed:
                raise ModelError(f"{info.path.name}: input {inp.name!r} axis {axis} is dynamic; only N, H, W may be")
            shape.append(have)
        elif fixed and have != want:
            raise BadArgumentError(
                f"{info.path.name}: input {inp.name!r} axis {axis} is fixed to {have} in the ONNX but the recipe asks for {want}"
            )
        else:
            shape.append(want)
    return tuple(shape)


def shipped_recipes() -> list[Recipe]:
    return [load_recipe(recipe_path(t)) for t in available_targets()]


def choose_recipe(
    compute_capability: tuple[int, int], total_memory_bytes: int, recipes: list[Recipe] | None = None
) -> str:
    """The target whose `[device]` table fits this GPU (pure: `recipes` defaults to the shipped ones).

    Recipes that name this exact compute capability come first (8.7 is only Jetson Orin, whose
    memory is shared with the CPU); otherwise those for this capability or newer. Among the
    ones whose `min_memory_gib` the card has, the largest wins, so an 8 GB desktop card gets a
    recipe sized for 8 GB, never one sized for an 80 GB data-centre GPU.
    """
    recipes = shipped_recipes() if recipes is None else recipes
    gib = total_memory_bytes / (1 << 30)
    cc = tuple(compute_capability)
    for matches in (lambda d: d.exact(cc), lambda d: d.at_least(cc)):
        fits = [r for r in recipes if r.device is not None and matches(r.device) and gib >= r.device.min_memory_gib]
        if fits:
            return max(fits, key=lambda r: (r.device.min_memory_gib, r.target)).target
    raise BadArgumentError(
        f"build: no shipped recipe fits a GPU of compute capability {cc[0]}.{cc[1]} with {gib:.1f} GiB; "
        f"pass --target (one of {', '.join(r.target for r in recipes)}) or --recipe FILE"
    )


def target_for_device(compute_capability: tuple[int, int], total_memory_bytes: int) -> str:
    """The shipped recipe for a GPU (see `choose_recipe`)."""
    return choose_recipe(compute_capability, total_memory_bytes)
