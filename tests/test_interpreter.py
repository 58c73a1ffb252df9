"""The runtime's interpreter: where it comes from (the machine's own apt configuration) and
what it is."""

import subprocess

import pytest

from localcloud.services.awslambda import interpreter


def test_the_debian_archive_is_the_one_this_machines_apt_configuration_names(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment: ignored\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/example.gpg\n"
    )
    assert interpreter.debian_mirror(tmp_path) == ("http://archive.example/debian", "/usr/share/keyrings/example.gpg")
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://old.example/debian bookworm main\n")
    assert interpreter.debian_mirror(tmp_path)[0] == "http://old.example/debian"


def test_without_a_debian_archive_it_fails_with_one_clear_line(tmp_path):
    (tmp_path / "sources.list").write_text("# nothing here\n")
    with pytest.raises(interpreter.RuntimeUnavailable) as failure:
        interpreter.debian_mirror(tmp_path)
    assert "\n" not in str(failure.value) and "names no Debian archive" in str(failure.value)


def test_the_interpreter_is_cpython_3_13_with_its_own_libraries_and_boto3():
    python = interpreter.interpreter()
    code = "import sys, ssl, sqlite3, boto3; print(sys.version_info[:2], boto3.__file__)"
    result = subprocess.run(
        [*python.command, "-c", f"import sys; sys.path.append({str(python.runtime_dir)!r}); {code}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.startswith("(3, 13) ") and str(python.runtime_dir) in result.stdout
