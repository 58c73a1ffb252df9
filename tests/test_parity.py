"""The arm64 parity check (`make parity`; CI runs it once): the stage AWS gets, built for
arm64 as `make package` builds it, runs on arm64 (qemu-aarch64-static) with the runtime's
own Python and gives the x86_64 build's outputs. Slow under emulation (minutes): `make test`
skips it unless `-m parity` selects it (tests/conftest.py)."""

import zipfile

import pytest

from localcloud.services.awslambda import interpreter
from localcloud.tools import parity
from tests import serverless_yml

pytestmark = pytest.mark.parity

_AARCH64, _X86_64 = 183, 62  # ELF e_machine


@pytest.fixture(scope="module")
def checked(cloud):
    found, runs = parity.check("dev", "local", cloud.client_environment())
    print("\n" + "\n".join(parity.report_lines(found, runs)))
    return found, {run.architecture: run for run in runs}


def test_every_handler_imports_on_arm64_and_here(checked):
    found, runs = checked
    assert found.handler_failures == {}
    assert runs["arm64"].report["machine"] == "aarch64"
    assert runs[interpreter.machine_architecture()].report["machine"] == "x86_64"
    assert runs["arm64"].report["python"] == runs["x86_64"].report["python"]
    for run in runs.values():  # every handler of the template's functions, on each CPU
        assert set(run.report["handlers"]) == serverless_yml.handlers(), run.architecture


def test_the_image_functions_give_the_same_pixels_on_arm64(checked):
    found, runs = checked
    assert set(runs["arm64"].report["outputs"]) == {
        "chelsea.jpg png", "chelsea.jpg thumbnail", "chelsea.heic png", "chelsea.heic thumbnail"
    }  # fmt: skip
    assert found.differences == {}


def test_the_arm64_build_really_is_arm64(cloud, tmp_path):
    """What the probe loaded on arm64 was built for it (not a fallback to pure Python)."""
    folder = parity.package(cloud.client_environment(), "dev", tmp_path / "dev")
    with zipfile.ZipFile(folder / "pythonRequirements.zip") as layer:
        [extension] = [n for n in layer.namelist() if n.startswith("python/PIL/_imaging.cpython-313-")]
        assert int.from_bytes(layer.read(extension)[18:20], "little") == _AARCH64, extension
