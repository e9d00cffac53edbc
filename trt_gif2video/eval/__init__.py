"""Evaluation: PSNR/SSIM on the validation split, beside classical baselines."""
