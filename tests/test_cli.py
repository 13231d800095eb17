"""The command line: defaults in --help, one-line errors with exit 2 before any work, data errors
as one line with exit 1 (no traceback)."""

import gzip
import subprocess
import sys

import pytest

from lecun1989.cli import main


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize("cmd", ["train", "repro"])
def test_help_states_defaults(capsys, cmd):
    code, out, _ = run_cli(capsys, cmd, "--help")
    assert code == 0
    assert "(default: 23)" in out and "(default: 1337)" in out and "(default: mnist1989)" in out
    if cmd == "train":
        for text in ("sgd 0.03", "(default: tanh)", "(default: sgd)", "(default: constant)", "(default: 0.0)"):
            assert text in out


@pytest.mark.parametrize("argv, needle", [
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--lr", "abc"], "--lr"),
    (["train", "--activation", "sigmoid"], "--activation"),
    (["train", "--passes", "0"], "--passes"),
    (["train", "--dropout", "1.5"], "--dropout"),
    (["train", "--data", "cifar"], "--data"),
    (["train", "--train-size", "-5"], "--train-size"),
    (["repro", "--seed", "-1"], "--seed"),
    (["repro", "--bogus"], "unrecognized"),
    ([], "required"),
])
def test_invalid_values_exit_2_with_one_line(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("lecun1989") and needle in last
    assert "Traceback" not in err


def test_bad_data_file_is_one_line_exit_1(capsys, tmp_path):
    usps = tmp_path / "usps"
    usps.mkdir()
    for name in ("zip.train.gz", "zip.test.gz"):
        (usps / name).write_bytes(gzip.compress(b"3 0.5 0.5\n"))
    code = main(["train", "--data", "usps", "--passes", "1", "--data-root", str(tmp_path),
                 "--out", str(tmp_path / "run"), "--engine", "torch"])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lecun1989: error:") and "zip.train.gz" in lines[0]
    assert "Traceback" not in err


def test_data_verify_reports_a_corrupt_file(capsys, tmp_path):
    (tmp_path / "usps").mkdir()
    (tmp_path / "usps" / "zip.test.gz").write_bytes(b"not gzip")
    code = main(["data", "verify", "--data-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "BAD" in out and "missing" in out


def test_console_script_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lecun1989.cli", "train", "--optimizer", "rmsprop"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--optimizer" in r.stderr
