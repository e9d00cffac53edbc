"""Palette-cell premise and gain (model card, "Palette-cell constraint"): 13 validation crops, 32 colours.

python benchmarks/cell_premise.py trt_gif2video/weights/dequant_nodither.safetensors
Per GIF maker: raw GIF PSNR, ours (torch, the given weights), ours projected into the palette
cells (eval.cell), and the share of pixels whose true colour is nearest to the GIF colour.
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)
from trt_gif2video.eval.harness import photo_crops
from trt_gif2video.eval.encoders import BY_NAME, encode_frames
from trt_gif2video.eval.cell import project_to_cell, cell_agreement
from trt_gif2video.eval.metrics import psnr
from trt_gif2video.data import corpus
from trt_gif2video.nets.store import load_network
from trt_gif2video.nets.deploy import DequantDeploy
from trt_gif2video.palette import pad_palette
from trt_gif2video.quantize import quantize_rgb
from trt_gif2video.config import Quantizer, Dither
w = sys.argv[1]
net = DequantDeploy(load_network(w).float().eval())
crops = photo_crops(corpus.photos(corpus.Split.VAL), 256, 1)
cases = {}
for name in ("ffmpeg-none", "magick-none"):
    enc = encode_frames(crops, BY_NAME[name], 32)
    cases[name] = [(e.gif, e.palette) for e in enc]
cases["mediancut"] = [quantize_rgb(c, 32, Quantizer.MEDIAN_CUT, Dither.NONE) for c in crops]
for name, gp in cases.items():
    r = {"gif": [], "ours": [], "cell": [], "agree": []}
    for c, (g, p) in zip(crops, gp):
        with torch.no_grad():
            o = net(torch.from_numpy(g)[None], torch.from_numpy(pad_palette(p))[None])[0].numpy()
        r["gif"].append(psnr(g, c)); r["ours"].append(psnr(o, c)); r["cell"].append(psnr(project_to_cell(o, g, p), c))
        r["agree"].append(cell_agreement(c, g, p))
    print(name, {k: round(float(np.mean(v)), 3) for k, v in r.items()}, flush=True)
