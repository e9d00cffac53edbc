"""Pipeline stages: fitting frames to a network (pad/tile), dequantization, interpolation.

Each stage is an iterator transform the pipeline runs in its own thread.
"""
