"""Triton python-backend model: runs the model.onnx beside it with ONNX Runtime on the CPU.

Copied as `<repo>/<model>/1/model.py` by `trt-gif2video triton repo --platform python`. It runs
inside Triton's python backend stub (which provides `triton_python_backend_utils`), so it
imports nothing from trt_gif2video. Each request runs as its own ORT call, exactly as a local
ONNX Runtime session would run it, so outputs are bit-identical to `restore --backend onnxruntime`.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        here = os.path.join(args["model_repository"], args["model_version"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        threads = config.get("parameters", {}).get("ort_threads", {}).get("string_value", "0")
        options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(os.path.join(here, "model.onnx"), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                feeds = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
                values = self.session.run(self.outputs, feeds)
                tensors = [pb_utils.Tensor(n, np.ascontiguousarray(v)) for n, v in zip(self.outputs, values)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as exc:  # one bad request must not take the others down
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(str(exc).splitlines()[0])))
        return responses
