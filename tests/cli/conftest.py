"""The `mailpolicy` command through Typer's CliRunner, against a test's own database."""

from __future__ import annotations

import pytest
from click.testing import Result
from typer.testing import CliRunner

from mailpolicy.cli import app as cli_app
from tests.support.cli import Cli


@pytest.fixture
def cli(database_url: str) -> Cli:
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli_app, list(args), env={"MAILPOLICY_DATABASE_URL": database_url})
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    return invoke
