"""The contract, checked by schemathesis with every check against a real server holding
real fixtures (tests/contract/run.py): bounded for CI (a fixed seed, 15 examples per
operation, the examples, coverage and fuzzing phases). The long run is
``python -m tests.contract.run --max-examples N``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.run import CI_PHASES, contract_run
from vistone.config import Settings
from vistone.runtime import Runtime

MAX_EXAMPLES = 15
SEED = 20260105


@pytest.mark.timeout(900)
def test_schemathesis_finds_nothing(runtime: Runtime, settings: Settings,
                                    tmp_path: Path) -> None:
    outcome = contract_run(runtime.database.url, settings.resolve_jwt_secret(), tmp_path,
                           max_examples=MAX_EXAMPLES, phases=CI_PHASES, seed_value=SEED)
    print(outcome.figures())
    assert outcome.reports, f"schemathesis wrote no report:\n{outcome.output}"
    assert (outcome.exit_code, outcome.failures, outcome.errors) == (0, 0, 0), (
        f"{outcome.output}\nserver log:\n{outcome.server_log}\n{outcome.figures()}")
