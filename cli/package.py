"""``asg-namer package``: builds dist/lambda.zip, the Lambda artifact, deterministically.

The zip holds handler/ and the runtime dependencies the python3.13 Lambda runtime does not provide
(aws-lambda-powertools, tenacity and what they need), copied from the installed distributions of this
environment: no download, so the same source and the same installed versions give the same bytes.
Every bundled distribution must be a pure-Python wheel (``Root-Is-Purelib: true``) and no file may be a
compiled extension, so the one zip runs on arm64 and x86_64 alike.

boto3 is not bundled by default: the runtime provides it (docs/deploy.md says why); ``--with-boto3``
bundles boto3, botocore and their dependencies for a pinned SDK.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement

from cli.common import EXIT_OK, CliError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "dist" / "lambda.zip"
HANDLER_PACKAGE = "handler"

# What the python3.13 Lambda runtime already has on its path (boto3 and its dependency closure).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"})
COMPILED_SUFFIXES = frozenset({".so", ".pyd", ".dll", ".dylib", ".a", ".o", ".lib", ".exe"})
# dist-info files that describe one installation (installer, paths, hashes of .pyc) rather than the package.
_INSTALL_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_FILE_MODE = 0o100644 << 16
_UNIX = 3


class PackageError(CliError):
    """The artifact cannot be built as promised (a compiled file, a missing distribution)."""


@dataclass
class Artifact:
    path: Path
    size: int
    sha256: str
    distributions: dict[str, str] = field(default_factory=dict)
    files: int = 0


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """The Lambda's runtime dependencies: [project].dependencies, the list the handler is written against."""
    with pyproject.open("rb") as handle:
        return [Requirement(text) for text in tomllib.load(handle)["project"]["dependencies"]]


def bundled_distributions(requirements: Iterable[Requirement], with_boto3: bool = False) -> dict[str, str]:
    """Normalised name -> installed version of every distribution to bundle (the closure, minus the runtime's)."""
    skip = set() if with_boto3 else set(RUNTIME_PROVIDED)
    found: dict[str, str] = {}
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        name = _normalise(requirement.name)
        if name in skip or name in found:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"{requirement.name} is not installed; run 'make install' first") from None
        if version not in requirement.specifier:
            raise PackageError(f"installed {name} {version} does not satisfy {requirement}; run 'make install'")
        found[name] = version
        pending.extend(Requirement(text) for text in metadata.requires(name) or ())
    return dict(sorted(found.items()))


def _distribution_files(name: str) -> dict[str, bytes]:
    dist = metadata.distribution(name)
    wheel = dist.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in wheel:
        raise PackageError(f"{name} is not a pure-Python wheel (WHEEL says no Root-Is-Purelib: true)")
    files: dict[str, bytes] = {}
    for entry in dist.files or ():
        relative = PurePosixPath(str(entry))
        if ".." in relative.parts or "__pycache__" in relative.parts or relative.suffix == ".pyc":
            continue  # scripts outside site-packages, byte code compiled at install time
        if relative.parts[0].endswith(".dist-info") and relative.name in _INSTALL_RECORDS:
            continue
        files[relative.as_posix()] = Path(str(entry.locate())).read_bytes()
    return files


def _handler_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted((root / HANDLER_PACKAGE).rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def collect(with_boto3: bool = False, root: Path = ROOT) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every file of the artifact (zip path -> bytes) and the bundled distributions' versions."""
    distributions = bundled_distributions(runtime_requirements(root / "pyproject.toml"), with_boto3)
    files = _handler_files(root)
    for name in distributions:
        for path, data in _distribution_files(name).items():
            if path in files and files[path] != data:
                raise PackageError(f"{path} comes from two places ({name} and another); cannot bundle both")
            files[path] = data
    compiled = sorted(path for path in files if PurePosixPath(path).suffix.lower() in COMPILED_SUFFIXES)
    if compiled:
        raise PackageError(f"compiled files would make the artifact platform-specific: {', '.join(compiled[:5])}")
    return files, distributions


def write_zip(files: dict[str, bytes], output: Path) -> None:
    """Sorted entries, fixed timestamps, permissions and compression: same files, same bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(output.suffix + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = _FILE_MODE
            info.create_system = _UNIX
            archive.writestr(info, files[path], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    partial.replace(output)


def build(output: Path = DEFAULT_OUTPUT, with_boto3: bool = False, root: Path = ROOT) -> Artifact:
    files, distributions = collect(with_boto3, root)
    write_zip(files, output)
    data = output.read_bytes()
    return Artifact(output, len(data), hashlib.sha256(data).hexdigest(), distributions, len(files))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str) -> None:
    parser = subparsers.add_parser(
        "package",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: asg-namer package --output dist/lambda.zip",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the zip")
    parser.add_argument("--with-boto3", action="store_true", help="bundle boto3/botocore instead of the runtime's")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    artifact = build(args.output, args.with_boto3)
    bundled = ", ".join(f"{name} {version}" for name, version in artifact.distributions.items())
    print(f"wrote {artifact.path} ({artifact.size:,} bytes, {artifact.files} files, sha256 {artifact.sha256})")
    print(f"bundled: handler, {bundled}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asg-namer")
    register(parser.add_subparsers(dest="command", required=True), "build dist/lambda.zip")
    args = parser.parse_args(["package", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except CliError as error:
        print(f"asg-namer package: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
