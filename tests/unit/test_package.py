"""dist/lambda.zip: deterministic, pure Python, and importable with only what the Lambda runtime provides."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cli import package


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> package.Artifact:
    return package.build(tmp_path_factory.mktemp("pkg") / "lambda.zip")


def test_two_builds_of_the_same_source_are_byte_identical(artifact, tmp_path) -> None:
    # GIVEN one build WHEN the same source is built again elsewhere THEN the bytes are the same
    again = package.build(tmp_path / "again.zip")
    assert again.sha256 == artifact.sha256
    assert again.path.read_bytes() == artifact.path.read_bytes()


def test_entries_are_sorted_with_fixed_times_and_permissions(artifact) -> None:
    with zipfile.ZipFile(artifact.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_it_holds_the_handler_and_the_dependencies_the_runtime_lacks_but_not_boto3(artifact) -> None:
    with zipfile.ZipFile(artifact.path) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"handler", "aws_lambda_powertools", "tenacity"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath"}
    assert not any(name.endswith((".pyc", ".so")) or "__pycache__" in name for name in tops)
    assert set(artifact.distributions) >= {"aws-lambda-powertools", "tenacity"}


def test_a_compiled_file_fails_the_build(tmp_path) -> None:
    # GIVEN a handler tree that contains a compiled extension
    (tmp_path / "handler").mkdir()
    (tmp_path / "handler" / "__init__.py").write_text("")
    (tmp_path / "handler" / "speedup.cpython-313-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["tenacity>=9"]\n')
    # WHEN packaged THEN it refuses, naming the file
    with pytest.raises(package.PackageError, match=r"speedup\.cpython-313-aarch64-linux-gnu\.so"):
        package.build(tmp_path / "out.zip", root=tmp_path)


def _runtime_dir(tmp_path: Path) -> Path:
    """What the python3.13 runtime puts on the path besides the function: boto3 and its dependencies."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for module in ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "jmespath", "six"):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return runtime


def test_the_handler_imports_in_a_clean_interpreter_from_the_zip_alone(artifact, tmp_path) -> None:
    # GIVEN the zip unpacked as Lambda unpacks it, and only the runtime's own SDK beside it
    task = tmp_path / "task"
    with zipfile.ZipFile(artifact.path) as archive:
        archive.extractall(task)
    runtime = _runtime_dir(tmp_path)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import handler.app, aws_lambda_powertools, tenacity\n"
        "assert callable(handler.app.lambda_handler)\n"
        "assert aws_lambda_powertools.__file__.startswith(sys.argv[1]), aws_lambda_powertools.__file__\n"
        "assert tenacity.__file__.startswith(sys.argv[1])\n"
        "print('imported', handler.app.__file__)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: an AWS call at import would fail
    }
    # WHEN a clean interpreter (-I isolated, -S without site-packages) imports the handler
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(task), str(runtime)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN it imports from the zip's files, without calling AWS
    assert result.returncode == 0, result.stderr
    assert f"imported {task}" in result.stdout


def test_the_recorded_sha256_is_the_files(artifact) -> None:
    assert hashlib.sha256(artifact.path.read_bytes()).hexdigest() == artifact.sha256
    assert artifact.size == artifact.path.stat().st_size
