"""One-line mutations of the core, each with the test files that cover it (run by run.py).

(id, file under trt_gif2video/, exact text (must occur once), replacement, covering tests, what it breaks).
The first five are the ones issue 14 measured surviving the old suite.
"""

PIPE = ["tests/test_pipeline_checks.py", "tests/test_pipeline.py"]
TIMING = ["tests/test_pipeline_timing.py", *PIPE]
PAD = ["tests/test_runtime_pad.py", "tests/test_pipeline.py", "tests/test_tiling_shipped.py"]
RECEPTIVE = ["tests/test_receptive.py", "tests/test_tiling_shipped.py"]
ENCODE = ["tests/test_encode.py", "tests/test_pipeline_checks.py"]
GATES = ["tests/test_export_gates.py", "tests/test_export_shipped.py"]
PALETTE = ["tests/test_nets_dequant.py", "tests/test_pipeline_checks.py"]
MEMORY = [*PIPE, "tests/test_pipeline_memory.py"]

MUTATIONS = [
    # --- the five from the issue ---------------------------------------------------------------
    ("first-palette", "stages/dequantize.py",
     "palette = np.stack([pad_palette(f.palette) for f in batch])",
     "palette = np.stack([pad_palette(batch[0].palette) for f in batch])", PIPE,
     "every frame of a batch gets the first frame's palette"),
    ("pts-shift", "io/encode.py", "frame.pts = self.frames_written", "frame.pts = self.frames_written + 1", ENCODE,
     "the encoder shifts every timestamp by one frame"),
    ("threshold-0.25", "stages/dequantize.py", "threshold: float = 0.5", "threshold: float = 0.25", PIPE,
     "the dither threshold moves from 0.5 to 0.25"),
    ("gate-never-refuses", "export/check.py", "    if not drop.passes():\n        raise ModelError",
     "    if False:\n        raise ModelError", GATES, "the FP16/INT8 gate measures but never refuses"),
    ("compare-left-restored-alpha", "pipeline.py",  # --compare's labelled layout with alpha (wip-gifsem)
     "gif = alpha_stage.composite(frame.source.rgb, frame.source.alpha, background)",
     "gif = alpha_stage.composite(frame.rgb, frame.alpha, background)", PIPE,
     "--compare's left half shows the restored frame (labelled layout)"),
    # --- stages/dequantize.py ------------------------------------------------------------------
    ("detector-max", "stages/dequantize.py", 'p = float(np.mean(detector.infer({"gif": batch})["p_dither"]))',
     'p = float(np.max(detector.infer({"gif": batch})["p_dither"]))', PIPE, "detector: max instead of mean over frames"),
    ("detector-one-frame", "stages/dequantize.py", "for f in frames[: limits.max_batch or len(frames)]",
     "for f in frames[:1]", PIPE, "detector looks at the first frame only"),
    ("dither-yes-ignored", "stages/dequantize.py", "if choice is DitherChoice.YES:\n            return Variant.DITHER",
     "if choice is DitherChoice.YES:\n            return Variant.NODITHER", PIPE, "--dither yes runs the plain weights"),
    ("drop-head", "stages/dequantize.py", "rest = itertools.chain(head, frames)", "rest = frames", PIPE,
     "the frames the detector looked at are not restored"),
    ("no-margin-dequant", "stages/dequantize.py", "margin=session_margin(session, stride),", "margin=0,",
     ["tests/test_tiling_shipped.py"], "dequantizer tiles without their receptive-field margin"),
    # --- stages/interpolate.py -----------------------------------------------------------------
    ("t-formula", "stages/interpolate.py", "float((s - ta) / (tb - ta))", "float((s - ta) / (tb - ta + 1))", TIMING,
     "t computed against a slightly wrong interval"),
    ("swap-gifs", "stages/interpolate.py", '"gif0": g0, "gif1": g1', '"gif0": g1, "gif1": g0', TIMING,
     "the two GIF frames swapped"),
    ("swap-restored", "stages/interpolate.py", '"img0": i0, "img1": i1', '"img0": i1, "img1": i0', TIMING,
     "the two restored frames swapped"),
    ("restored-as-gif", "stages/interpolate.py", '"gif0": g0, "gif1": g1', '"gif0": i0, "gif1": i1', TIMING,
     "restored frames fed where the GIF frames go"),
    ("no-hold", "stages/interpolate.py", "end = Fraction(last.timestamp_ms + last.delay_ms)",
     "end = Fraction(last.timestamp_ms)", TIMING, "the last GIF frame is not held for its delay"),
    ("fps-max", "stages/interpolate.py", "statistics.median_low(delays_ms)", "max(delays_ms)", TIMING,
     "GIF rate from the longest delay instead of the median"),
    ("t0-wrong-source", "stages/interpolate.py",
     "self.held += s > Fraction(fa.timestamp_ms)\n                yield OutputFrame(k, s, ra, fa, 0.0",
     "self.held += s > Fraction(fa.timestamp_ms)\n                yield OutputFrame(k, s, ra, fb, 0.0", TIMING, "frames at t = 0 report the next GIF frame as shown"),
    ("no-margin-interp", "stages/interpolate.py", "margin=session_margin(session, stride),", "margin=0,",
     ["tests/test_tiling_shipped.py"], "interpolator tiles without their receptive-field margin"),
    # --- stages/pad.py --------------------------------------------------------------------------
    ("pad-reflect", "stages/pad.py", "mode: PadMode = PadMode.REPLICATE, min_hw", "mode: PadMode = PadMode.REFLECT, min_hw",
     PAD, "stride padding reflects instead of replicating"),
    ("half-margin", "stages/pad.py", "start = min(max(0, keep_start - margin), length - size)",
     "start = min(max(0, keep_start - margin // 2), length - size)", PAD, "tiles carry half their left/top margin"),
    ("window-no-margin", "stages/pad.py", "size = min(length, max(core + 2 * margin,",
     "size = min(length, max(core + margin,", PAD, "windows one margin short"),
    ("unbalanced-cores", "stages/pad.py", "core = padded_size(-(-length // count), stride)", "core = core", PAD,
     "cores not balanced (608 px at 512 -> 512 + 96)"),
    ("keep-offset", "stages/pad.py", ":, r.keep_start - r.start : r.keep_stop - r.start,",
     ":, r.keep_start - r.start + 1 : r.keep_stop - r.start + 1,", PAD, "a tile's kept rows off by one"),
    ("no-batch-split", "stages/pad.py", "step = limits.max_batch or n", "step = n", PAD,
     "batches above the engine's max batch are not split"),
    ("profile-min-ignored", "stages/pad.py", "padded = {k: pad_to_stride(v, stride, pad_mode, limits.min_hw)",
     "padded = {k: pad_to_stride(v, stride, pad_mode)", PAD, "frames below the profile minimum are not padded up"),
    # --- stages/receptive.py ----------------------------------------------------------------------
    ("rf-no-jump", "stages/receptive.py", "radius = own + reach * jump",
     "radius = own + reach", RECEPTIVE, "conv reach not scaled by the resolution"),
    ("rf-no-flow", "stages/receptive.py", "radius = max(grid.radius, image.radius + self.flow)", "radius = grid.radius",
     RECEPTIVE, "warping's displacement ignored"),
    ("rf-reduce-any-axis", "stages/receptive.py", "        if any(_spatial(axes[w]) for w in where):\n            return self._set(node, math.inf, jump, axes)  # over H or W",
     "        if False:\n            return self._set(node, math.inf, jump, axes)  # over H or W", RECEPTIVE,
     "a reduction over H or W counted as per pixel"),
    ("rf-matmul-over-pixels", "stages/receptive.py", "if _spatial(a[-1]) or _spatial(b[-2]):", "if False:", RECEPTIVE,
     "a MatMul summing over pixels counted as per pixel"),
    ("rf-gather-pixels", "stages/receptive.py", "if flows[0] is not None and _spatial(data[0][k]):", "if False:", RECEPTIVE,
     "GatherElements picking image pixels counted as per pixel"),
    ("rf-reshape-order", "stages/receptive.py", "if sorted(take) != sorted(d[1]):", "if False:", RECEPTIVE,
     "a Reshape that swaps H and W counted as keeping them"),
    ("margin-round-down", "stages/receptive.py", "return -(-math.ceil(radius) // stride) * stride",
     "return math.ceil(radius) // stride * stride", RECEPTIVE, "margin rounded down below the radius"),
    # --- pipeline.py ----------------------------------------------------------------------------
    ("swallow-errors", "pipeline.py", "        raise err\n    backend_line", "        pass\n    backend_line", PIPE,
     "a failed stage's error is swallowed"),
    ("progress-index", "pipeline.py", "progress(Progress(frame.source.index + 1, n_frames, written))",
     "progress(Progress(frame.source.index, n_frames, written))", PIPE, "progress one GIF frame behind"),
    ("tile-ignored", "pipeline.py", "tiles = TileSpec(mem.tile)", "tiles = TileSpec(None)", PIPE, "--tile ignored"),
    ("held-drops-alpha", "stages/interpolate.py", "yield OutputFrame(k, s, ra, fa, 0.0, fa.alpha)\n            return",
     "yield OutputFrame(k, s, ra, fa, 0.0)\n            return", ["tests/test_transparency.py"],
     "held frames of a transparent GIF lose their alpha"),
    ("plan-no-margins", "budget.py", "side = tile + 2 * margin", "side = tile", ["tests/test_hostile.py"],
     "the memory plan forgets the context each tile carries"),
    ("unbounded-queues", "pipeline.py", "out: queue.Queue = queue.Queue(self.queue_size)",
     "out: queue.Queue = queue.Queue()", MEMORY, "queues unbounded: memory grows with the GIF"),
    # --- palette.py -----------------------------------------------------------------------------
    ("pad-black", "palette.py", "fill = np.repeat(pal[:1], PALETTE_SIZE - pal.shape[0], axis=0)",
     "fill = np.zeros((PALETTE_SIZE - pal.shape[0], 3), np.uint8)", PALETTE, "palette padded with black"),
    ("refuse-256", "palette.py", "not 1 <= pal.shape[0] <= PALETTE_SIZE", "not 1 <= pal.shape[0] < PALETTE_SIZE",
     PALETTE, "256-colour palettes refused"),
    # --- io/encode.py ---------------------------------------------------------------------------
    ("gif-delay-floor", "io/encode.py", "return int(Fraction(100 * i) / fps + Fraction(1, 2))",
     "return int(Fraction(100 * i) / fps)", ENCODE, "GIF output delays truncated, not rounded"),
    ("odd-crop", "io/encode.py", 'return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")',
     "return rgb[: h - h % 2, : w - w % 2]", ENCODE, "odd sizes cropped instead of padded"),
    ("no-atomic", "io/encode.py", "            self.abort()\n            raise OutputError(f\"{self.path}: encoding frame",
     "            raise OutputError(f\"{self.path}: encoding frame", ENCODE, "a failed frame leaves its temp file"),
    ("frames-count", "io/encode.py", "        self.frames_written += 1\n", "        self.frames_written += 2\n",
     ENCODE, "frame counter skips"),
    # --- export/check.py ------------------------------------------------------------------------
    ("fp16-gate-0.2", "export/check.py", "DROP_GATES = {Precision.FP16: 0.1,", "DROP_GATES = {Precision.FP16: 0.2,",
     GATES, "FP16 limit loosened to 0.2 dB"),
    ("int8-gate-strict", "export/check.py", "return self.drop <= DROP_GATES[self.precision]",
     "return self.drop < DROP_GATES[self.precision]", GATES, "a drop of exactly the limit refused"),
    ("prob-gate-0.5", "export/check.py", "PROB_GATE = 0.05", "PROB_GATE = 0.5", GATES, "detector limit loosened"),
    ("variant-vs-itself", "export/check.py", "return PrecisionDrop(*head, psnr(ya, gt), psnr(yb, gt),",
     "return PrecisionDrop(*head, psnr(ya, gt), psnr(ya, gt),", GATES, "the variant is never measured"),
    ("gate-skipped", "export/check.py", "drop = gate(fp32, trial, check_frames, cache_dir, manifest) if check_frames else None",
     "drop = None", GATES, "write_gated writes without gating"),
    ("trial-kept", "export/check.py", "        trial.unlink(missing_ok=True)", "        pass", GATES,
     "a refused model's trial file is left behind"),
]
