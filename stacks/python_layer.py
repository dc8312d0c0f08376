"""A Lambda layer of pinned PyPI wheels, built without Docker.

CDK's local bundling runs pip with `--platform manylinux_2_28_<arch> --python-version X.Y
--only-binary=:all:`, so the layer holds exactly the wheels the function's runtime and
architecture load, whatever machine synthesizes. The wheels are kept in `layers/.wheelhouse/`
(not committed), so only the first synth for a platform needs PyPI. Docker bundling is only
the fallback for a machine without pip.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.service_function import lambda_architecture, lambda_runtime
from stacks.settings import Settings

PLATFORM_TAGS = {"arm64": "manylinux_2_28_aarch64", "x86_64": "manylinux_2_28_x86_64"}
# For a layer that needs a package with no manylinux_2_28 wheel (cffi publishes manylinux2014,
# glibc 2.17, only): pip may also take these, after the manylinux_2_28 ones. Lambda's Amazon
# Linux 2023 (glibc 2.34) runs both.
MANYLINUX2014_TAGS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def wheelhouse_for(source: Path, platform: str, python_version: str) -> Path:
    """One wheelhouse per platform and Python, shared by every layer in `source`'s folder."""
    return source.parent / ".wheelhouse" / f"{platform}-py{python_version}"


def pip_wheel_args(
    requirements: Path | str,
    platform: str,
    python_version: str,
    fallback_platforms: tuple[str, ...] = (),
) -> list[str]:
    """What every pip call here shares: wheels only, for the target platform (then any
    fallback platforms, in order of preference) and Python."""
    platforms = [arg for tag in (platform, *fallback_platforms) for arg in ("--platform", tag)]
    return [
        # Errors only: a machine's pip config (an unreachable extra index, say) makes pip print
        # warnings on every synth that say nothing about the layer; a failure still prints and
        # fails the synth.
        "--quiet",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        *platforms,
        "--python-version",
        python_version,
        "--requirement",
        str(requirements),
    ]


def pip_install_args(
    requirements: Path | str,
    platform: str,
    python_version: str,
    target: str,
    fallback_platforms: tuple[str, ...] = (),
) -> list[str]:
    """`pip install` of the layer's wheels into `target` (the Docker fallback runs this)."""
    return [
        "install",
        "--no-compile",
        "--target",
        target,
        *pip_wheel_args(requirements, platform, python_version, fallback_platforms),
    ]


def _has_pip() -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    return probe.returncode == 0


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Installs the layer from a wheelhouse kept beside the layers (`layers/.wheelhouse/`),
    downloading into it only what it lacks: the first synth needs PyPI, later ones none."""

    def __init__(
        self,
        requirements: Path,
        platform: str,
        python_version: str,
        wheelhouse: Path,
        fallback_platforms: tuple[str, ...] = (),
    ) -> None:
        self._requirements = requirements
        self._platform = platform
        self._python_version = python_version
        self._fallback_platforms = fallback_platforms
        self.wheelhouse = wheelhouse

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        if not _has_pip():
            return False  # no pip here: CDK falls back to Docker bundling
        target = f"{output_dir}/python"
        if self._install(target, check=False).returncode != 0:
            self.download()
            self._install(target, check=True)
        return True

    def download(self) -> None:
        """Fetch the pinned wheels (and what they need) that the wheelhouse does not hold."""
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--dest",
                str(self.wheelhouse),
                *pip_wheel_args(
                    self._requirements,
                    self._platform,
                    self._python_version,
                    self._fallback_platforms,
                ),
            ],
            check=True,
        )

    def _install(self, target: str, *, check: bool) -> subprocess.CompletedProcess[bytes]:
        args = pip_install_args(
            self._requirements,
            self._platform,
            self._python_version,
            target,
            self._fallback_platforms,
        )
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                *args,
                "--no-index",
                "--find-links",
                str(self.wheelhouse),
            ],
            # A first synth's miss is expected and says nothing; the retry's error is shown.
            capture_output=not check,
            check=check,
        )


class PythonLayer(Construct):
    """`layers/<name>/requirements.txt` as a layer for the stage's runtime and architecture."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        source: Path,
        description: str,
        manylinux2014: bool = False,
        **kwargs: Any,
    ) -> None:
        """`manylinux2014`: also take manylinux2014 wheels where no manylinux_2_28 one
        exists (see MANYLINUX2014_TAGS)."""
        super().__init__(scope, id, **kwargs)
        requirements = source / "requirements.txt"
        platform = PLATFORM_TAGS[settings.architecture]
        fallback = (MANYLINUX2014_TAGS[settings.architecture],) if manylinux2014 else ()
        runtime = lambda_runtime(settings)
        # The asset is named by what decides its bytes: the pins, the platforms, the Python.
        asset_hash = hashlib.sha256(
            b"\0".join(
                [
                    requirements.read_bytes(),
                    ",".join((platform, *fallback)).encode(),
                    settings.python_version.encode(),
                ]
            )
        ).hexdigest()
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(source),
                asset_hash=asset_hash,
                asset_hash_type=AssetHashType.CUSTOM,
                bundling=BundlingOptions(
                    image=runtime.bundling_image,
                    command=[
                        "bash",
                        "-c",
                        "pip "
                        + " ".join(
                            pip_install_args(
                                "/asset-input/requirements.txt",
                                platform,
                                settings.python_version,
                                "/asset-output/python",
                                fallback,
                            )
                        ),
                    ],
                    # jsii hands the options over as one positional struct, which the typed
                    # protocol (keyword arguments) cannot express.
                    local=cast(
                        ILocalBundling,
                        PipLocalBundling(
                            requirements,
                            platform,
                            settings.python_version,
                            wheelhouse_for(source, platform, settings.python_version),
                            fallback,
                        ),
                    ),
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[lambda_architecture(settings)],
            description=description,
            removal_policy=RemovalPolicy.DESTROY,
        )
