"""The configuration: README's table is complete and true, and a bad value is one sentence
naming its variable."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import ApiSettings
from indexer.errors import SettingsError
from indexer.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def documented() -> dict[str, str]:
    """{variable: default cell} of the table in README's "Configuration" section."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ORRANGE_[A-Z0-9_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_readme_table__lists_every_setting_and_only_them():
    assert set(documented()) == {f"ORRANGE_{name.upper()}" for name in ApiSettings.model_fields}


def test_readme_table__literal_defaults_are_the_real_ones():
    for name, cell in documented().items():
        if not (cell.startswith("`") and cell.endswith("`")):
            continue  # a default described in words, such as "(random per process)"
        default = ApiSettings.model_fields[name.removeprefix("ORRANGE_").lower()].default
        rendered = str(default).lower() if isinstance(default, bool) else str(default)
        assert cell.strip("`") == rendered, name


def test_load__bad_value__one_sentence_naming_the_variable(monkeypatch):
    monkeypatch.setenv("ORRANGE_CONFIRMATIONS", "-1")
    monkeypatch.setenv("ORRANGE_ORDER_RATE_PER_IP", "10 a minute")
    with pytest.raises(SettingsError) as refused:
        ApiSettings.load()
    message = str(refused.value)
    assert "\n" not in message
    assert "ORRANGE_CONFIRMATIONS: Input should be greater than or equal to 0 (got '-1')" in message
    assert 'ORRANGE_ORDER_RATE_PER_IP: a rate is "<count>/<second|minute|hour|day>"' in message


def test_load__reads_dot_env_and_options_win(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ORRANGE_LOG_FORMAT=json\nORRANGE_LOG_LEVEL=debug\nORRANGE_CONFIRMATIONS=3\n")
    settings = Settings.load(confirmations=5)
    assert (settings.log_format, settings.log_level, settings.confirmations) == ("json", "DEBUG", 5)


def test_cli__bad_setting__one_line_and_exit_1(tmp_path):
    result = subprocess.run([sys.executable, "-m", "api.cli", "index", "--once"], capture_output=True, text=True,
                            env={"PATH": "", "ORRANGE_LOG_FORMAT": "xml"}, cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ORRANGE_LOG_FORMAT: Input should be 'text' or 'json'" in " ".join(result.stderr.split())
