#!/usr/bin/env python3
"""The CDK app: the one place that reads context and environment.

    cdk synth                 # stage dev (the default)
    cdk synth -c stage=prod   # stage prod
"""

import os
import sys

import aws_cdk as cdk

from stacks.image_service_stack import ImageServiceStack
from stacks.settings import Settings, SettingsError

app = cdk.App()
stage = app.node.try_get_context("stage") or "dev"
stages = app.node.try_get_context("stages") or {}
if stage not in stages:
    sys.exit(f"Unknown stage '{stage}': cdk.json context 'stages' defines {', '.join(stages)}")
try:
    settings = Settings.from_context(stage, stages[stage])
except SettingsError as error:
    sys.exit(f"Invalid settings for stage '{stage}' in cdk.json: {error}")

account = os.environ.get("CDK_DEFAULT_ACCOUNT")
region = os.environ.get("CDK_DEFAULT_REGION")
ImageServiceStack(
    app,
    f"ImageService-{stage}",
    settings=settings,
    # Env-agnostic unless the CLI resolved an account and region (`cdk deploy` with credentials).
    env=cdk.Environment(account=account, region=region) if account and region else None,
    description=f"Serverless image upload, thumbnail and download service ({stage})",
)
app.synth()
