"""``asg-namer bench`` options: what each makes of the run's configuration, and the one-line usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import ASSUMED_AUTOSCALING_BUCKET, GENEROUS_AUTOSCALING_BUCKET, BenchConfig, SweepConfig
from cli.bench import FULL, config_from_args
from cli.main import build_parser, main


def config(*args: str) -> BenchConfig:
    """The configuration ``asg-namer bench ARGS`` runs with."""
    return config_from_args(build_parser(["bench", *args]).parse_args(["bench", *args]))


def test_buckets_seeds_slot_and_sweep_reach_the_configuration() -> None:
    buckets = ["--autoscaling-bucket", "40,8", "--autoscaling-bucket", "200,20"]
    chosen = config("--seeds", "4,5", *buckets, "--slot", "1000", "--sweep", "10x20")
    assert chosen.seeds == (4, 5)
    assert chosen.autoscaling_buckets == (ASSUMED_AUTOSCALING_BUCKET, GENEROUS_AUTOSCALING_BUCKET)
    assert chosen.slot_sizes == (1000,)
    assert chosen.sweep == SweepConfig(groups=10, per_group=20)


def test_environments_are_processes_unless_in_process_is_asked_for() -> None:
    assert config().process_environments is True
    assert config("--in-process").process_environments is False


def test_defaults_and_presets() -> None:
    default = config()
    assert (default.seeds, default.autoscaling_buckets, default.sweep) == (
        (1, 2, 3),
        (ASSUMED_AUTOSCALING_BUCKET,),
        None,
    )
    assert config("--sweep").sweep == SweepConfig()  # the 100 groups x 50 instances
    assert config("--full") == FULL
    assert FULL.autoscaling_buckets == (ASSUMED_AUTOSCALING_BUCKET, GENEROUS_AUTOSCALING_BUCKET)


@pytest.mark.parametrize(
    "args",
    [
        ["--autoscaling-bucket", "200"],
        ["--autoscaling-bucket", "0,20"],
        ["--autoscaling-bucket", "a,b"],
        ["--seeds", "x"],
        ["--sweep", "100"],
        ["--sweep", "300x5"],
        ["--slot", "0"],
    ],
)
def test_bad_values_are_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", *args])
    assert exited.value.code == 2
    assert "asg-namer bench: error: argument" in capsys.readouterr().err


def test_two_presets_at_once_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give one" in err


def test_a_report_from_a_file_that_is_not_results_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"runs": [{"candidate": "asg-namer"}]}')
    assert main(["bench", "--report-from", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot read {other}" in err
