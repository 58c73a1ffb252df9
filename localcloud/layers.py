"""Lambda layers in the local runtime: a function imports only what its own layers bring.

On Lambda a function sees the packages of the layers attached to it (under /opt/python) and
nothing of the others. The local workers import third-party packages from the local venv
instead (the deployed layers hold wheels for Lambda's CPU and Python, which cannot load here),
and the venv has every layer's packages. So each worker is told which top-level modules come
from a layer deployed in its region that is not attached to its function; importing one
fails as on Lambda (`No module named 'PIL'`, and `Runtime.ImportModuleError` if the handler's
module does it). Test: tests/test_localcloud_runtime.py::test_a_function_cannot_import_a_layer_it_does_not_have.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from typing import Any

ENVIRONMENT = "LOCALCLOUD_NOT_IN_LAYERS"  # comma-separated module names, read by worker.py


@lru_cache(maxsize=64)
def _modules(layer_sha: str, content: bytes) -> frozenset[str]:
    """Top-level modules a Python layer provides (`python/<name>/`, `python/<name>.py`,
    `python/<name>.<abi>.so`); metadata and bundled-library folders are not modules."""
    found = set()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) < 2 or parts[0] != "python" or not parts[1]:
                continue
            top = parts[1]
            if len(parts) > 2:
                if top.isidentifier():
                    found.add(top)
            elif top.endswith((".py", ".so")):
                module = top.split(".")[0]
                if module.isidentifier():
                    found.add(module)
    return frozenset(found)


def layer_modules(layer: Any) -> frozenset[str]:
    """The modules of one moto LayerVersion."""
    content = getattr(layer, "code_bytes", None)
    if not content:
        return frozenset()
    return _modules(getattr(layer, "code_sha_256", ""), bytes(content))


def unavailable_modules(function: Any) -> list[str]:
    """Modules that a layer deployed in the function's account and region provides, and none
    of the function's own layers does."""
    backend = _backend(function)
    if backend is None:
        return []
    attached = {layer.get("Arn") for layer in getattr(function, "layers", None) or []}
    own: set[str] = set()
    others: set[str] = set()
    for versions in backend._layers._layers.values():
        for version in versions.layer_versions.values():
            (own if version.arn in attached else others).update(layer_modules(version))
    return sorted(others - own)


def _backend(function: Any) -> Any:
    account, region = getattr(function, "account_id", None), getattr(function, "region", None)
    if not (account and region):
        return None
    from moto.awslambda.models import lambda_backends

    try:
        return lambda_backends[account][region]
    except KeyError:
        return None
