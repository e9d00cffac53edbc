"""TensorRT plans: recipes (`recipe`), the build steps (`build`), the plan cache
(`cache`) and the one place that knows TensorRT versions (`compat`).

Nothing here imports TensorRT at import time; `compat.import_tensorrt` does, on use.
"""
