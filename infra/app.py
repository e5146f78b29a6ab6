"""CDK entry point: `cdk synth` / `cdk deploy` run this module (see cdk.json)."""

from __future__ import annotations

import os

import aws_cdk as cdk

from infra.config import StackSettingsError
from infra.nag import add_nag_checks
from infra.names import STACK_NAME
from infra.stack import AutolabelStack

__all__ = ["STACK_NAME", "build_app", "main"]


def build_app(outdir: str | None = None, context: dict | None = None) -> tuple[cdk.App, AutolabelStack]:
    app = cdk.App(outdir=outdir, context=context)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION", "us-east-1"),
    )
    stack = AutolabelStack(app, STACK_NAME, env=env, description="autolabel: automated data labeling")
    add_nag_checks(app, stack)
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
    except StackSettingsError as error:  # a setting of cdk.json's context: its message says which and how
        raise SystemExit(f"autolabel: {error}") from None
    app.synth()


if __name__ == "__main__":
    main()
