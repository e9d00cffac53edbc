"""`trt-gif2video bench`: throughput, per-stage latency, memory and FLOP efficiency per backend.

    stats     percentiles of perf_counter_ns samples
    memory    peak host RSS (/proc VmHWM, resettable) and device memory
    peak      the device's measured FP32 matrix-product peak (the physical limit)
    paired    share of that peak measured beside each network call (robust to load; python -m)
    flops     FLOPs per frame read from ONNX graphs (no torch)
    stages    per-stage timing: decode, host-to-device, dequantize, interpolate, device-to-host, encode
    run       the whole benchmark over backends x precisions x sizes, plus baseline and end-to-end
    report    JSON, markdown table and PNG plot; the issue's targets as measured ratios
    original  the paper's CCDNet-2 and SuperSlomo in PyTorch (baseline; torch imported on first use)

Nothing here imports torch at module level: the runtime bench runs on a torch-free install.
"""
