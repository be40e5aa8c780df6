"""The wheel and sdist as a package index gets them: license, classifiers, long description.

Both are built from the working tree with hatchling (the build backend, in the ``test`` extra)
into a temporary folder; nothing is written into the tree.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import sagemaker_async

ROOT = Path(__file__).resolve().parents[2]
NAME = f"sagemaker_async-{sagemaker_async.__version__}"
CLASSIFIERS = {
    "Framework :: Apache Airflow",
    "Framework :: Apache Airflow :: Provider",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.13",
    "Typing :: Typed",
}
#: Markdown or HTML images and links whose target is not an absolute http(s) URL.
_RELATIVE = re.compile(r"\]\((?!https?://)[^)]*\)|<img[^>]+src=\"(?!https?://)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # hatchling is in the test extra; a stray environment without it skips, saying so.
    pytest.importorskip("hatchling", reason="needs hatchling, from the test extra")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def wheel_files(built: Path) -> dict[str, bytes]:
    (wheel,) = built.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def sdist_files(built: Path) -> dict[str, bytes]:
    (sdist,) = built.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


def metadata(text: bytes) -> Message:
    return Parser().parsestr(text.decode())


def test_the_license_text_is_in_the_wheel_and_the_sdist(built: Path) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in license_text and b"Version 2.0, January 2004" in license_text
    assert wheel_files(built)[f"{NAME}.dist-info/licenses/LICENSE"] == license_text
    assert sdist_files(built)[f"{NAME}/LICENSE"] == license_text


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_the_metadata_carries_license_and_classifiers(built: Path, kind: str) -> None:
    if kind == "wheel":
        meta = metadata(wheel_files(built)[f"{NAME}.dist-info/METADATA"])
    else:
        meta = metadata(sdist_files(built)[f"{NAME}/PKG-INFO"])
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert set(meta.get_all("Classifier") or []) >= CLASSIFIERS
    assert meta["Description-Content-Type"] == "text/markdown"


def test_the_long_description_is_written_for_a_package_index(built: Path) -> None:
    meta = metadata(wheel_files(built)[f"{NAME}.dist-info/METADATA"])
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.startswith("# sagemaker-async\n")
    assert _RELATIVE.findall(description) == []
    assert "make " not in description  # the Makefile is not part of what pip installs
    assert "SageMakerTrainingOperator" in description


def test_the_wheel_holds_the_package_and_its_type_marker(built: Path) -> None:
    files = wheel_files(built)
    assert f"{NAME}.dist-info/entry_points.txt" in files
    assert "sagemaker_async/py.typed" in files
    assert not any(name.startswith(("tests/", "bench/", "docs/")) for name in files)
