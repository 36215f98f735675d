"""``lagrangian demo``: lists its examples, runs one by name, says what each solves
before solving it, prints its checks as pass/FAIL lines, and answers a wrong name with
the list of names (exit status 2, no traceback)."""

import subprocess
import sys

import pytest

from lagrangian import cli, examples
from lagrangian.examples import Check, Demo


def lagrangian(*arguments):
    return subprocess.run([sys.executable, "-m", "lagrangian", *arguments], capture_output=True, text=True, timeout=300)


def test_list_names_every_example_with_its_sentence(capsys):
    assert cli.main(["demo", "--list"]) == 0
    listed = " ".join(capsys.readouterr().out.split())
    for demo in examples.DEMOS:
        assert demo.name in listed
        assert " ".join(demo.problem.split()) in listed


def test_help_lists_the_example_names(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["demo", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for demo in examples.DEMOS:
        assert demo.name in out


def test_a_wrong_name_answers_with_the_list_and_no_traceback():
    done = lagrangian("demo", "backprop", "solve_kkt_from_a_script")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "no example named 'backprop'" in done.stderr
    for demo in examples.DEMOS:
        assert demo.name in done.stderr
    assert done.stdout == ""  # nothing ran: the valid name is not run either


def test_one_example_by_name_says_what_it_solves_first_then_checks():
    done = lagrangian("demo", "backprop_is_a_kkt_solve")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    demo = examples.BY_NAME["backprop_is_a_kkt_solve"]
    sentence = " ".join(out.split()).index(" ".join(demo.problem.split()))
    assert sentence < " ".join(out.split()).index("node op value")  # before the example's own table
    assert "solve_kkt_from_a_script" not in out  # only the example asked for
    assert out.count("  pass  ") == len(demo.checks) and "FAIL" not in out
    assert "df/dx = 33.907768" in out  # the summary: f'(0.1) = (e^c + cos c)(1 + 2a)a
    assert "All 1 checks of 1 example passed." in out


def test_a_failed_check_is_a_fail_line_and_exit_status_1(capsys):
    # A stand-in catalogue entry whose answer misses its check: the real example runs,
    # the claim about it is wrong on purpose.
    wrong = Demo(
        "backprop_is_a_kkt_solve",
        "The blog's function, with a check that cannot hold.",
        "f = {f:.3f}",
        (Check("df/dx is zero", "df/dx", "==", 0.0), Check("the multipliers are derivatives", "max_relative_difference", "<=", 1e-12)),
    )
    assert cli.demo(["backprop_is_a_kkt_solve"], demos=(wrong,)) == 1
    out = capsys.readouterr().out
    assert "  FAIL  df/dx is zero (df/dx = 3.4e+01, needs == 0.0)" in out
    assert "  pass  the multipliers are derivatives" in out
    assert "1 of 1 examples failed a check: backprop_is_a_kkt_solve" in out
