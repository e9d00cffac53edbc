"""trt-gif2video: restore animated GIFs to smooth, full-colour video.

The data flow (decode -> dequantize -> interpolate -> encode) lives in
`trt_gif2video.pipeline`. Nothing imported from here pulls in torch or tensorrt.
"""

__version__ = "0.1.0"
