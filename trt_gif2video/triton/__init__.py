"""Serving with NVIDIA Triton Inference Server: model repository (repo.py, config.py) and a local server (server.py)."""
