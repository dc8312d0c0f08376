#!/usr/bin/env python3
"""The CDK app: the one place that reads context and environment.

    cdk synth                 # stage dev (the default)
    cdk synth -c stage=prod   # stage prod

Tests call `build` with an `App` of their own, so they synthesize exactly what the CLI does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk

# The functions' code, importable as they import it: `stacks/` reads the facts both sides share
# from its pure modules (image_service.contract).
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambda_src"))

from stacks.image_service_stack import ImageServiceStack
from stacks.settings import CLOUDFRONT_REGION, Settings, SettingsError

DEFAULT_STAGE = "dev"


def build(app: cdk.App, environ: Mapping[str, str]) -> ImageServiceStack:
    """Add the stage named by context `stage` to `app`; `SettingsError` names a bad setting."""
    stage = app.node.try_get_context("stage") or DEFAULT_STAGE
    stages = app.node.try_get_context("stages") or {}
    if stage not in stages:
        raise SettingsError(
            f"stage: '{stage}' is not one of the stages in cdk.json ({', '.join(stages)})"
        )
    settings = Settings.from_context(stage, stages[stage])

    account = environ.get("CDK_DEFAULT_ACCOUNT")
    region = environ.get("CDK_DEFAULT_REGION")
    # Known only here. Without a region the template itself refuses any but us-east-1.
    if settings.waf and account and region and region != CLOUDFRONT_REGION:
        raise SettingsError(
            f"waf: a CloudFront web ACL can only be created in {CLOUDFRONT_REGION}, and this "
            f"stack deploys to {region}; deploy the stage to {CLOUDFRONT_REGION} or set waf "
            "to false"
        )
    return ImageServiceStack(
        app,
        f"ImageService-{stage}",
        settings=settings,
        # Env-agnostic unless the CLI resolved an account and region (credentials present).
        env=cdk.Environment(account=account, region=region) if account and region else None,
        description=f"Serverless image upload, thumbnail and download service ({stage})",
    )


def main() -> None:
    app = cdk.App()
    try:
        build(app, os.environ)
    except SettingsError as error:
        sys.exit(f"Invalid settings in cdk.json: {error}")
    app.synth()


if __name__ == "__main__":
    main()
