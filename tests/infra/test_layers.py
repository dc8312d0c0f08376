"""The layers hold wheels for exactly the functions' Python version and architecture."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks import python_layer
from stacks.python_layer import PythonLayer
from stacks.settings import Settings
from tests.infra.conftest import ROOT, cdk_json_context

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def settings_for(architecture: str, runtime: str) -> Settings:
    dev = Settings.from_context("dev", cdk_json_context()["stages"]["dev"])
    return dataclasses.replace(dev, architecture=architecture, runtime=runtime)


def pillow_layer_stack(settings: Settings, **app_options: object) -> cdk.Stack:
    app = cdk.App(**app_options)  # type: ignore[arg-type]
    stack = cdk.Stack(app, "Layer")
    PythonLayer(
        stack, "Pillow", settings=settings, source=ROOT / "layers" / "pillow", description="Pillow"
    )
    return stack


def jwt_layer_stack(settings: Settings, **app_options: object) -> cdk.Stack:
    app = cdk.App(**app_options)  # type: ignore[arg-type]
    stack = cdk.Stack(app, "Layer")
    PythonLayer(
        stack,
        "Jwt",
        settings=settings,
        source=ROOT / "layers" / "jwt",
        description="PyJWT",
        manylinux2014=True,
    )
    return stack


def layer_key(settings: Settings) -> str:
    stack = pillow_layer_stack(settings, context={"aws:cdk:bundling-stacks": []})
    layers = Template.from_stack(stack).find_resources("AWS::Lambda::LayerVersion")
    key: str = next(iter(layers.values()))["Properties"]["Content"]["S3Key"]
    return key


def test_layer_asset_changes_with_architecture_and_runtime() -> None:
    keys = {
        (arch, runtime): layer_key(settings_for(arch, runtime))
        for arch in ("arm64", "x86_64")
        for runtime in ("python3.12", "python3.13")
    }
    assert len(set(keys.values())) == 4, keys
    assert layer_key(settings_for("arm64", "python3.13")) == keys[("arm64", "python3.13")]


def _wheel_tags(layer: Path, distribution: str) -> list[str]:
    (dist_info,) = (layer / "python").glob(f"{distribution}-*.dist-info")
    lines = (dist_info / "WHEEL").read_text().splitlines()
    return [line.removeprefix("Tag: ") for line in lines if line.startswith("Tag: ")]


@pytest.mark.slow
def test_pillow_layer_is_built_for_the_target_platform(tmp_path: Path) -> None:
    for architecture, runtime, machine in (
        ("arm64", "python3.13", "aarch64"),
        ("x86_64", "python3.12", "x86_64"),
    ):
        settings = settings_for(architecture, runtime)
        outdir = tmp_path / architecture
        pillow_layer_stack(settings, outdir=str(outdir)).node.root.synth()  # type: ignore[attr-defined]
        (layer,) = (p for p in outdir.glob("asset.*") if p.is_dir())

        cpython = "cp" + settings.python_version.replace(".", "")
        for distribution in ("pillow", "pi_heif"):
            tags = _wheel_tags(layer, distribution)
            assert tags, f"{distribution} is installed from a wheel"
            for tag in tags:
                python, abi, platform = tag.split("-")
                assert (python, abi) == (cpython, cpython), tag
                assert platform.startswith("manylinux"), tag
                assert platform.endswith(machine), tag
        # The compiled cores are the ones this runtime and CPU load.
        suffix = f"cpython-{cpython[2:]}-{machine}-linux-gnu.so"
        assert list((layer / "python" / "PIL").glob(f"_imaging.{suffix}"))
        assert (layer / "python" / f"_pi_heif.{suffix}").is_file()
        # HEIC is decoded by libheif + libde265 (LGPL); no HEVC encoder (x265, GPL) ships.
        libraries = {p.name.split("-")[0] for p in (layer / "python").rglob("*.so*")}
        assert {"libheif", "libde265"} <= libraries, libraries
        assert not any("x265" in name for name in libraries), libraries
        assert not list((layer / "python").glob("pillow_heif*"))

        size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file())
        assert size < LAMBDA_UNZIPPED_LIMIT / 5, f"{size / 1e6:.1f} MB"


@pytest.mark.slow
def test_jwt_layer_is_built_for_the_target_platform(tmp_path: Path) -> None:
    """cryptography's wheels are manylinux_2_28 (abi3, CPython 3.11 on); cffi, which its core
    loads, comes as a manylinux2014 wheel: both for the function's CPU."""
    for architecture, runtime, machine in (
        ("arm64", "python3.13", "aarch64"),
        ("x86_64", "python3.12", "x86_64"),
    ):
        settings = settings_for(architecture, runtime)
        outdir = tmp_path / architecture
        jwt_layer_stack(settings, outdir=str(outdir)).node.root.synth()  # type: ignore[attr-defined]
        (layer,) = (p for p in outdir.glob("asset.*") if p.is_dir())
        cpython = "cp" + settings.python_version.replace(".", "")
        (cryptography,) = _wheel_tags(layer, "cryptography")
        assert cryptography == f"cp311-abi3-manylinux_2_28_{machine}"
        cffi = _wheel_tags(layer, "cffi")
        assert f"{cpython}-{cpython}-manylinux2014_{machine}" in cffi, cffi
        assert _wheel_tags(layer, "pyjwt") == ["py3-none-any"]
        site = layer / "python"
        assert (site / "cryptography" / "hazmat" / "bindings" / "_rust.abi3.so").is_file()
        assert list(site.glob(f"_cffi_backend.cpython-{cpython[2:]}-{machine}-linux-gnu.so"))


def test_only_a_layer_that_asks_takes_manylinux2014_wheels() -> None:
    """(The other layers' assets keep their names: the snapshots pin their hashes.)"""
    plain = python_layer.pip_wheel_args("r.txt", "manylinux_2_28_aarch64", "3.13")
    assert plain.count("--platform") == 1
    wider = python_layer.pip_wheel_args(
        "r.txt", "manylinux_2_28_aarch64", "3.13", ("manylinux2014_aarch64",)
    )
    platforms = [wider[i + 1] for i, arg in enumerate(wider) if arg == "--platform"]
    assert platforms == ["manylinux_2_28_aarch64", "manylinux2014_aarch64"]  # 2_28 preferred


def test_docker_bundling_is_only_the_fallback_when_pip_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundler = python_layer.PipLocalBundling(
        ROOT / "layers" / "pillow" / "requirements.txt",
        "manylinux_2_28_aarch64",
        "3.13",
        tmp_path / "wheelhouse",
    )
    monkeypatch.setattr(python_layer, "_has_pip", lambda: False)
    # False tells CDK to bundle in the runtime's Docker image instead.
    output = tmp_path / "out"
    output.mkdir()
    assert bundler.try_bundle(str(output), None) is False
    assert not any(output.iterdir())
