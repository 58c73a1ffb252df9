"""Lambda layers in the local runtime: a function's layers, unpacked as Lambda unpacks them.

On Lambda the layers attached to a function are extracted, in the order the function lists
them, into /opt (a later layer's files replace an earlier one's), and the Python runtime puts
/opt/python/lib/python3.13/site-packages and /opt/python on the path. Here each function
version gets such a folder, made from the layer zips the deploy uploaded (moto keeps them), so
a worker imports what its own layers bring and nothing else: a layer built for another Python
or CPU fails here as on Lambda. Test: tests/test_localcloud_runtime.py.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path
from typing import Any


def attached(function: Any) -> list[Any]:
    """The moto LayerVersions attached to the function, in its order (a version that is not
    deployed in its account and region is skipped: Lambda refuses such a configuration)."""
    backend = _backend(function)
    wanted = [layer.get("Arn") for layer in getattr(function, "layers", None) or []]
    if backend is None or not wanted:
        return []
    versions = {
        version.arn: version for group in backend._layers._layers.values() for version in group.layer_versions.values()
    }
    return [versions[arn] for arn in wanted if arn in versions]


def unpack(function: Any, root: Path) -> Path:
    """The function's /opt: its layers' zips extracted in order into one folder under `root`
    (shared by every function with the same layers; an empty folder when it has none)."""
    layers = attached(function)
    key = hashlib.sha256("\n".join(str(getattr(v, "code_sha_256", v.arn)) for v in layers).encode()).hexdigest()
    folder = root / f"opt-{key[:16]}"
    if folder.exists():
        return folder
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for version in layers:
        content = getattr(version, "code_bytes", None)
        if content:
            with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
                _extract(archive, staging)
    staging.rename(folder)
    return folder


def _extract(archive: zipfile.ZipFile, target: Path) -> None:
    """Extracts keeping the zip's Unix permissions (a layer's executables stay executable),
    as Lambda does; zipfile alone drops them."""
    for member in archive.infolist():
        path = Path(archive.extract(member, target))
        mode = member.external_attr >> 16
        if mode and not member.is_dir():
            path.chmod(mode & 0o777)


def _backend(function: Any) -> Any:
    account, region = getattr(function, "account_id", None), getattr(function, "region", None)
    if not (account and region):
        return None
    from moto.awslambda.models import lambda_backends

    try:
        return lambda_backends[account][region]
    except KeyError:
        return None
