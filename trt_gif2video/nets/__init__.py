"""PyTorch networks (the `train` extra): dequantizer (CCDNet-k), dither detector, interpolator.

`deploy.wrap` gives the uint8 NHWC form that is exported; `store` saves/loads safetensors.
"""
