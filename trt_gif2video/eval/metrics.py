"""PSNR and SSIM on uint8 RGB images (numpy only).

SSIM follows Wang et al. 2004: Gaussian window 11x11, sigma 1.5, K1=0.01, K2=0.03,
computed per RGB channel on [0, 255] and averaged (what skimage's
`structural_similarity(..., channel_axis=-1, gaussian_weights=True)` reports).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_WIN = 11
_SIGMA = 1.5


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB over all pixels and channels; identical images give +inf."""
    if pred.shape != truth.shape:
        raise ValueError(f"psnr: shapes differ {pred.shape} vs {truth.shape}")
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _gauss() -> np.ndarray:
    x = np.arange(_WIN, dtype=np.float64) - (_WIN - 1) / 2
    g = np.exp(-(x**2) / (2 * _SIGMA**2))
    return g / g.sum()


def _filter(img: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, 'valid' region only (no padding artefacts)."""
    g = _gauss()
    rows = sliding_window_view(img, _WIN, axis=0) @ g
    return sliding_window_view(rows, _WIN, axis=1) @ g


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    if pred.shape != truth.shape:
        raise ValueError(f"ssim: shapes differ {pred.shape} vs {truth.shape}")
    if min(pred.shape[:2]) < _WIN:
        raise ValueError(f"ssim: images must be at least {_WIN}x{_WIN}, got {pred.shape[:2]}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(pred.shape[2] if pred.ndim == 3 else 1):
        x = (pred[..., c] if pred.ndim == 3 else pred).astype(np.float64)
        y = (truth[..., c] if truth.ndim == 3 else truth).astype(np.float64)
        mx, my = _filter(x), _filter(y)
        sxx = _filter(x * x) - mx * mx
        syy = _filter(y * y) - my * my
        sxy = _filter(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(m.mean())
    return float(np.mean(vals))
