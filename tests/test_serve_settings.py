"""Server settings declared once (snf.serve.config.Settings): `snf-serve`'s options, their
environment variables and the defaults all come from the dataclass's fields."""
import dataclasses
import re

import pytest

from snf.cli.common import UsageError
from snf.serve.cli import parser, settings_from
from snf.serve.config import ServerSettingsError, Settings, env_name, flag_fields, option


def test_every_setting_but_root_and_token_is_an_option_with_its_default_in_the_help():
    names = {f.name for f in flag_fields()}
    assert names == {f.name for f in dataclasses.fields(Settings)} - {"root", "token"}
    text = parser().format_help().replace("\n", " ")
    text = " ".join(text.split())
    for f in flag_fields():
        assert option(f) in text
        if env_name(f):
            assert f"${env_name(f)}" in text
    assert env_name(next(f for f in flag_fields() if f.name == "scheduler")) == "SNF_SCHEDULER"


def test_flag_then_environment_then_default(tmp_path):
    args = parser().parse_args([str(tmp_path), "--max-queue", "3"])
    env = {"SNF_MAX_QUEUE": "9", "SNF_WORKERS": "4", "SNF_MAX_UPLOAD_MB": "1.5", "SNF_TOKEN": "t0k"}
    s = settings_from(args, env)
    assert s.max_queue == 3 and s.workers == 4 and s.max_upload_bytes == 3 << 19 and s.token == "t0k"
    assert s.max_steps == Settings.max_steps == 20_000 and s.root == str(tmp_path.resolve())
    args = parser().parse_args([str(tmp_path), "--token-env", "OTHER"])
    assert settings_from(args, {"SNF_TOKEN": "x", "OTHER": "y"}).token == "y"
    assert settings_from(args, {"SNF_TOKEN": "x"}).token is None


@pytest.mark.parametrize("argv,env,message", [
    (["--workers", "0"], {}, "--workers must be at least 1"),
    (["--max-upload-mb", "0"], {}, "--max-upload-mb must be above 0"),
    ([], {"SNF_MAX_QUEUE": "lots"}, "$SNF_MAX_QUEUE: expected int"),
    ([], {"SNF_IDLE_TIMEOUT": "-1"}, "--idle-timeout must be above 0"),
])
def test_bad_values_are_one_line_usage_errors(tmp_path, argv, env, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        settings_from(parser().parse_args([str(tmp_path), *argv]), env)


def test_the_object_checks_itself_wherever_it_is_built(tmp_path):
    with pytest.raises(ServerSettingsError):
        Settings(root=str(tmp_path), max_connections=0)
    s = Settings(root=str(tmp_path))
    assert dataclasses.replace(s, max_connections=5).max_connections == 5
