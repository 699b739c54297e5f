"""Put this directory on PYTHONPATH to run Python as ``pip install gclens`` leaves it: without pandas.

pyarrow turns nanosecond timestamps into Python values only through pandas, which the test extra
brings (through pyspark) and a user's environment does not. Every process started with this
directory on PYTHONPATH (the notebooks' kernels included) cannot import pandas, so the test
environment fails where a user's would. (``sys.modules["pandas"] = None`` is not enough: pyarrow's
compiled import finds the None in sys.modules and fails with an AttributeError instead.)
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


class _NoPandas(MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: tests/no_pandas)", name=name)


sys.meta_path.insert(0, _NoPandas())
