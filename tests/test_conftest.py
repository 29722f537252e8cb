"""The test suite's own rule: under CI, a test skipped for a missing program fails."""

from pathlib import Path

pytest_plugins = ["pytester"]

PROBE = '''
import pytest

@pytest.mark.skipif(True, reason="espeak-ng is not installed (debian-packages.txt)")
def test_needs_a_program():
    pass

@pytest.mark.skipif(True, reason="only root is refused")
def test_skips_for_another_reason():
    pass
'''


def test_a_missing_program_fails_under_ci_and_skips_elsewhere(pytester, monkeypatch):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("CI", "true")
    strict = pytester.runpytest_subprocess("-q")
    strict.assert_outcomes(skipped=1, errors=1)
    assert "a program this test needs is missing" in strict.stdout.str()
    monkeypatch.delenv("CI")
    pytester.runpytest_subprocess("-q").assert_outcomes(skipped=2)
