"""Dequantization on GIFs made by real encoders (ffmpeg, ImageMagick, gifski): eval's `real` section.

The validation crops go through every encoder of `encoders.ENCODERS` at `colors` colours
(gifski picks its own palette size); each encoded crop is scored as the raw GIF, after
ffmpeg deband, and restored by ours (the dequantizer matching the encoder's dither flag)
and ours-auto (the one the dither detector picks); for plain GIFs also ours+cell (ours
projected into the palette cell of each GIF pixel, `eval.cell`). An encoder whose tool is missing is
reported as skipped, with the reason, instead of failing the whole run.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackendUnavailableError
from ..palette import pad_palette
from . import baselines
from .cell import project_to_cell
from .encoders import encode_frames, encoders_named, missing_reason


def _score(pred: np.ndarray, truth: np.ndarray) -> dict:
    from .harness import Scores

    s = Scores()
    for p, t in zip(pred, truth):
        s.add(p, t)
    return s.summary()


def eval_real(crops: list[np.ndarray], runners, colors: int = 32, encoder_names: tuple[str, ...] = (),
              with_ffmpeg: bool = True, cache_dir=None, progress=None) -> dict:
    """{encoder name: {method: {psnr, ssim, n}} | {"skipped": reason}} plus "ours - gif" gains."""
    from .harness import _batched

    truth = np.stack(crops)
    results: dict[str, dict] = {}
    for enc in encoders_named(encoder_names):
        reason = missing_reason(enc.tool, cache_dir)
        if reason is not None:
            results[enc.name] = {"skipped": reason}
            continue
        try:
            encoded = encode_frames(crops, enc, colors, cache_dir)
        except BackendUnavailableError as exc:
            results[enc.name] = {"skipped": str(exc)}
            continue
        gif = np.stack([e.gif for e in encoded])
        methods = {"gif": gif}
        if with_ffmpeg:
            methods["ffmpeg-deband"] = np.stack(baselines.ffmpeg_filter(list(gif), baselines.FFMPEG_DEBAND))
        if runners is not None:
            pal = np.stack([pad_palette(e.palette) for e in encoded])
            methods["ours"] = _batched(lambda g, p: runners.dequant(g, p, enc.dithered), gif, pal)
            picked = _batched(runners.p_dither, gif) > 0.5
            auto = methods["ours"].copy()
            flip = np.flatnonzero(picked != enc.dithered)
            if len(flip):
                auto[flip] = _batched(lambda g, p: runners.dequant(g, p, not enc.dithered), gif[flip], pal[flip])
            methods["ours-auto"] = auto
            if not enc.dithered:  # the palette-cell constraint holds only without dither (eval.cell)
                methods["ours+cell"] = np.stack([project_to_cell(o, g, e.palette)
                                                 for o, g, e in zip(methods["ours"], gif, encoded)])
        row = {name: _score(pred, truth) for name, pred in methods.items()}
        row["dithered"] = enc.dithered
        row["colors"] = colors if enc.fixed_colors else int(np.mean([len(e.palette) for e in encoded]))
        if "ours" in row:
            row["gain_ours"] = round(row["ours"]["psnr"] - row["gif"]["psnr"], 3)
            row["gain_ours_auto"] = round(row["ours-auto"]["psnr"] - row["gif"]["psnr"], 3)
        if "ours+cell" in row:
            row["gain_ours_cell"] = round(row["ours+cell"]["psnr"] - row["gif"]["psnr"], 3)
        results[enc.name] = row
        if progress:
            progress(f"real {enc.name}")
    return results


def to_markdown(real: dict) -> list[str]:
    lines = ["### real encoders (PSNR dB / SSIM, validation split; gain = ours - GIF)", "",
             "| encoder | colours | GIF | ffmpeg deband | ours | ours-auto | ours+cell | gain ours | gain ours-auto "
             "| gain ours+cell |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in real.items():
        if "skipped" in row:
            lines.append(f"| {name} | skipped: {row['skipped']} | | | | | | | | |")
            continue

        def cell(m: str) -> str:
            return f"{row[m]['psnr']:.2f} / {row[m]['ssim']:.4f}" if m in row else "-"

        gains = [f"{row[g]:+.2f}" if g in row else "-" for g in ("gain_ours", "gain_ours_auto", "gain_ours_cell")]
        lines.append(f"| {name} | {row['colors']} | {cell('gif')} | {cell('ffmpeg-deband')} | {cell('ours')} | "
                     f"{cell('ours-auto')} | {cell('ours+cell')} | {' | '.join(gains)} |")
    lines.append("")
    return lines
