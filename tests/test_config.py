"""Configuration: file, profiles, environment, flags, secrets, and one-line errors."""

from __future__ import annotations

import dataclasses
import ssl
import sys
import tempfile
import textwrap
from pathlib import Path

import certifi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputop.config import (
    DEFAULT_LATENCY_HISTOGRAM,
    Config,
    ConfigError,
    Secret,
    default_config_path,
    load_config,
)
from gputop.config.tomllines import KeyLines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOKEN = "s3cr3t-t0ken-value"
PASSWORD = "hunter2-password"


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path | None = None, **kwargs: object) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# --- strict file checks ------------------------------------------------------------------------


def test_unknown_key_names_its_line_and_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # gputop settings
        [ui]
        interval = 2

        [prometheus]
        timeout = 3
        urll = "http://localhost:9090"
        """,
    )
    assert error_of(path) == (f"{path}:7: unknown key 'urll' in [prometheus] (did you mean 'url'?)")


def test_unknown_section_and_stray_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[ui]\ninterval = 2\n[promethues]\nurl = "http://a:9090"\n')
    assert error_of(path) == f"{path}:3: unknown section [promethues] (did you mean [prometheus]?)"
    path = write(tmp_path, 'url = "http://a:9090"\n')
    assert "it belongs in [prometheus]" in error_of(path)


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ('[prometheus]\nurl = "http://a"\ntimeout = "5s"', 3, "[prometheus] timeout: must be a "),
        ("[ui]\n\nno_color = 1", 3, "[ui] no_color: must be true or false, not an integer"),
        ('[rules]\nfiles = "a.yml"', 2, "[rules] files: must be an array of paths"),
        ("[ui]\ninterval = 0.1", 2, "[ui] interval: must be at least 0.2 seconds"),
        ("[rules]\nmargin_pct = 100", 2, "[rules] margin_pct: must be a percentage"),
        ("[rules]\nmargins = { GPUBusy = 0 }", 2, "[rules] margins.GPUBusy: must be a percentage"),
        ('[rules]\neval_interval = "soon"', 2, "[rules] eval_interval: not a duration"),
        (
            '[rules]\ndisabled_checks = ["default-exports"]',
            2,
            "[rules] disabled_checks: no check is named 'default-exports' (did you mean "
            "'default-export'?",
        ),
        ('[rules]\ndisabled_checks = "for-interval"', 2, "[rules] disabled_checks: must be an"),
        ("prometheus = 3", 1, "[prometheus] must be a table"),
        ('[prometheus]\nheaders = { X-A = "a\\nb" }', 2, "[prometheus] headers.X-A: a header"),
        ('[prometheus]\nheaders = { "X A" = "a" }', 2, "[prometheus] headers.X A: is not a valid"),
    ],
)
def test_wrong_type_or_value_names_the_line(
    tmp_path: Path, body: str, line: int, expected: str
) -> None:
    path = write(tmp_path, body + "\n")
    assert error_of(path).startswith(f"{path}:{line}: {expected}")


def test_url_without_scheme_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "localhost:9090"\n')
    message = error_of(path)
    assert message.startswith(f"{path}:2: [prometheus] url: URL has no scheme")
    assert "did you mean 'http://localhost:9090'?" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://a:9090", "URL scheme must be http or https, not 'ftp'"),
        ("http://", "URL has no host"),
        ("http://a:notaport", "URL has an invalid port"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, expected: str) -> None:
    path = write(tmp_path, f'[prometheus]\nurl = "{url}"\n')
    assert error_of(path) == f"{path}:2: [prometheus] url: {expected}"


def test_url_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    path = write(tmp_path, f'[prometheus]\nurl = "http://me:{PASSWORD}@a:9090"\n')
    message = error_of(path)
    assert "must not carry credentials" in message
    assert PASSWORD not in message


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://a:9090"\ntimeout = = 3\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: invalid TOML: ")
    assert "column" in message


def test_not_utf8_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[ui]\ninterval = 2\n# caf\xe9\n")
    assert error_of(path) == f"{path}:3: not UTF-8 text"


def test_selector_is_checked_and_braces_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nselector = \'{Hostname="node-3"}\'\n')
    config = load_config(path, env={})
    assert config.prometheus is not None
    assert config.prometheus.selector == 'Hostname="node-3"'
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nselector = "Hostname=node-3"\n')
    assert "[prometheus] selector: must be PromQL label matchers" in error_of(path)


# --- defaults, paths -----------------------------------------------------------------------------


def test_missing_default_file_gives_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nowhere"))
    assert default_config_path() == tmp_path / "nowhere" / "gputop" / "config.toml"
    config = load_config(env={})
    assert config == Config()
    assert config.path is None
    assert config.prometheus is None
    assert config.ui.interval == 1.0
    assert config.rules.margin_pct == 10.0
    assert config.rules.eval_interval is None  # not known: `rules check` never guesses it
    assert config.rules.counters == ()
    assert config.rules.disabled_checks == ()


def test_default_file_is_read_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "gputop").mkdir()
    path = write(tmp_path / "gputop", "[ui]\ninterval = 3\n")
    config = load_config(env={})
    assert config.path == path
    assert config.ui.interval == 3.0


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error_of(missing) == f"--config: config file not found: {missing}"
    assert error_of(env={"GPUTOP_CONFIG": str(missing)}) == (
        f"GPUTOP_CONFIG: config file not found: {missing}"
    )


def test_flag_config_wins_over_env_config(tmp_path: Path) -> None:
    flag = write(tmp_path, "[ui]\ninterval = 4\n", "flag.toml")
    env_file = write(tmp_path, "[ui]\ninterval = 5\n", "env.toml")
    assert load_config(env={"GPUTOP_CONFIG": str(env_file)}).ui.interval == 5.0
    assert load_config(flag, env={"GPUTOP_CONFIG": str(env_file)}).ui.interval == 4.0


def test_full_prometheus_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [prometheus]
        url = "https://prom.example:9090/"
        headers = { "X-Scope-OrgID" = "team-a" }
        timeout = 2.5
        latency_histogram = "svc_latency_seconds"
        range = "1h30m"

        [rules]
        eval_interval = "90s"
        margins = { GPUBusy = 5 }
        disabled_checks = ["default-export", "for-interval"]
        """,
    )
    config = load_config(path, env={})
    prom = config.prometheus
    assert prom is not None
    assert prom.url == "https://prom.example:9090"
    assert prom.timeout == 2.5
    assert prom.range == 5400.0
    assert prom.latency_histogram == "svc_latency_seconds"
    assert prom.headers() == {"X-Scope-OrgID": "team-a"}
    assert prom.auth() is None
    assert config.rules.eval_interval == 90.0
    assert dict(config.rules.margins) == {"GPUBusy": 5.0}
    assert config.rules.disabled_checks == ("default-export", "for-interval")
    assert config.alertmanager is None


def test_rules_url_and_stale_after(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://vm:8428"\n')
    prom = load_config(path, env={}).prometheus
    assert prom is not None and prom.rules_url is None and prom.stale_after is None
    path = write(
        tmp_path,
        '[prometheus]\nurl = "http://vm:8428"\nrules_url = "http://vmalert:8880/"\n'
        'stale_after = "45s"\n',
    )
    prom = load_config(path, env={}).prometheus
    assert prom is not None and prom.rules_url == "http://vmalert:8880"
    assert prom.stale_after == 45.0
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nrules_url = "vmalert:8880"\n')
    assert error_of(path).endswith(
        "[prometheus] rules_url: URL has no scheme; write it as http://host:port "
        "(did you mean 'http://vmalert:8880'?)"
    )
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nstale_after = "0s"\n')
    assert "[prometheus] stale_after: must be longer than 0s" in error_of(path)


def test_histogram_defaults_and_bucket_suffix_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\n')
    prom = load_config(path, env={}).prometheus
    assert prom is not None and prom.latency_histogram == DEFAULT_LATENCY_HISTOGRAM
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nlatency_histogram = "x_bucket"\n')
    assert "without '_bucket'" in error_of(path)


def test_rule_files_resolve_against_the_config_folder(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    (conf_dir / "rules").mkdir(parents=True)
    (conf_dir / "rules" / "gpu.yml").write_text("groups: []\n")
    absolute = tmp_path / "other.yml"
    absolute.write_text("groups: []\n")
    path = write(conf_dir, f'[rules]\nfiles = ["rules/gpu.yml", "{absolute}"]\n')
    config = load_config(path, env={})
    assert config.rules.files == (conf_dir.absolute() / "rules" / "gpu.yml", absolute)


def test_missing_rule_file_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[ui]\ninterval = 2\n[rules]\nfiles = ["gone.yml"]\n')
    assert (
        error_of(path) == f"{path}:4: [rules] files: rules file not found: {tmp_path / 'gone.yml'}"
    )


def test_rule_files_from_a_flag_stay_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yml").write_text("groups: []\n")
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    path = write(conf_dir, "[ui]\ninterval = 2\n")
    config = load_config(path, env={}, overrides={"rules.files": ["mine.yml"]})
    assert config.rules.files == (Path("mine.yml"),)
    assert error_of(path, overrides={"rules.files": ["none.yml"]}) == (
        "--rules: rules file not found: none.yml"
    )


# --- profiles --------------------------------------------------------------------------------


PROFILED = """
    [prometheus]
    url = "http://localhost:9090"
    timeout = 3
    headers = { "X-Scope-OrgID" = "dev", "X-Team" = "gpu" }

    [rules]
    margins = { GPUBusy = 5 }

    [profiles.prod.prometheus]
    url = "https://prom.prod:9090"
    headers = { "X-Scope-OrgID" = "prod" }

    [profiles.prod.rules]
    margins = { T2VInferenceSlow = 20 }

    [profiles.prod.ui]
    interval = 5

    [profiles.lab.ui]
    interval = 0.5
    """


def test_profile_overlays_the_file_table_by_table(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILED)
    base = load_config(path, env={})
    prod = load_config(path, profile="prod", env={})
    assert base.profile is None and prod.profile == "prod"
    assert base.prometheus is not None and prod.prometheus is not None
    assert base.prometheus.url == "http://localhost:9090"
    assert prod.prometheus.url == "https://prom.prod:9090"
    assert prod.prometheus.timeout == 3.0  # kept from the base table
    assert prod.prometheus.headers() == {"X-Scope-OrgID": "prod", "X-Team": "gpu"}
    assert dict(prod.rules.margins) == {"GPUBusy": 5.0, "T2VInferenceSlow": 20.0}
    assert prod.ui.interval == 5.0
    assert base.ui.interval == 1.0


def test_profile_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILED)
    assert load_config(path, env={"GPUTOP_PROFILE": "lab"}).ui.interval == 0.5
    assert load_config(path, profile="prod", env={"GPUTOP_PROFILE": "lab"}).ui.interval == 5.0


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILED)
    assert error_of(path, profile="staging") == (
        f"--profile: no profile 'staging' in {path} (known profiles: lab, prod)"
    )
    assert error_of(path, env={"GPUTOP_PROFILE": "qa"}).startswith("GPUTOP_PROFILE: no profile")
    bare = write(tmp_path, "[ui]\ninterval = 2\n", "bare.toml")
    assert "the file defines no profiles" in error_of(bare, profile="prod")


def test_every_profile_is_checked_even_when_unused(tmp_path: Path) -> None:
    path = write(tmp_path, '[ui]\ninterval = 2\n\n[profiles.old.prometheus]\nurll = "http://a"\n')
    assert error_of(path) == (
        f"{path}:5: unknown key 'urll' in [profiles.old.prometheus] (did you mean 'url'?)"
    )


def test_files_of_an_unused_profile_are_not_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [profiles.prod.prometheus]
        url = "http://a:9090"
        bearer_token_file = "/nonexistent/token"
        """,
    )
    assert load_config(path, env={}).prometheus is None
    assert "bearer token file not found: /nonexistent/token" in error_of(path, profile="prod")


def test_prometheus_is_off_without_a_url_and_its_files_go_unread(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\ntimeout = 2\nbearer_token_file = "/nonexistent/token"\n')
    assert load_config(path, env={}).prometheus is None
    message = error_of(path, env={"GPUTOP_PROMETHEUS_URL": "http://a:9090"})
    assert message == (
        f"{path}:3: [prometheus] bearer_token_file: bearer token file not found: /nonexistent/token"
    )


# --- environment and flags -------------------------------------------------------------------


def test_env_beats_file_and_flags_beat_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://file:9090"\n')
    env = {"GPUTOP_PROMETHEUS_URL": "http://env:9090"}
    flag = {"prometheus.url": "http://flag:9090"}

    def url(**kwargs: object) -> str:
        prom = load_config(path, **kwargs).prometheus  # type: ignore[arg-type]
        assert prom is not None
        return prom.url

    assert url(env={}) == "http://file:9090"
    assert url(env=env) == "http://env:9090"
    assert url(env=env, overrides=flag) == "http://flag:9090"
    assert url(env=env, overrides={"prometheus.url": None}) == "http://env:9090"


def test_env_beats_the_chosen_profile(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILED)
    prom = load_config(path, profile="prod", env={"GPUTOP_PROMETHEUS_URL": "http://env:1"})
    assert prom.prometheus is not None and prom.prometheus.url == "http://env:1"


def test_flag_errors_name_the_flag(tmp_path: Path) -> None:
    assert error_of(overrides={"ui.interval": 0.1}) == "--interval: must be at least 0.2 seconds"
    assert error_of(overrides={"prometheus.url": "localhost:9090"}).startswith(
        "--prometheus: URL has no scheme"
    )
    assert error_of(
        overrides={"prometheus.timeout": 0}, flag_names={"prometheus.timeout": "--timeout"}
    ) == ("--timeout: must be more than 0 seconds")
    assert error_of(overrides={"ui.colour": True}) == "--ui-colour: unknown setting 'ui.colour'"


def test_env_errors_name_the_variable() -> None:
    message = error_of(env={"GPUTOP_PROMETHEUS_URL": "prom:9090"})
    assert message.startswith("GPUTOP_PROMETHEUS_URL: URL has no scheme")


def test_flag_values_are_coerced_from_text() -> None:
    config = load_config(env={}, overrides={"ui.interval": "2.5", "prometheus.url": "http://a"})
    assert config.ui.interval == 2.5
    assert error_of(overrides={"ui.interval": "fast"}) == (
        "--interval: must be a number of seconds, not 'fast'"
    )


def test_no_color_from_env_and_flag() -> None:
    assert load_config(env={}).ui.no_color is False
    assert load_config(env={"NO_COLOR": "1"}).ui.no_color is True
    assert load_config(env={"NO_COLOR": ""}).ui.no_color is False
    assert load_config(env={}, overrides={"ui.no_color": True}).ui.no_color is True


# --- secrets ---------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(TOKEN)
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert secret.reveal() == TOKEN
    assert secret == Secret(TOKEN) and secret != Secret("other")


def test_token_file_is_read_and_hidden(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    path = write(
        tmp_path,
        """
        [prometheus]
        url = "http://a:9090"
        bearer_token_file = "token"
        headers = { "X-Scope-OrgID" = "t1" }
        """,
    )
    config = load_config(path, env={})
    assert config.prometheus is not None
    assert config.prometheus.headers() == {
        "X-Scope-OrgID": "t1",
        "Authorization": f"Bearer {TOKEN}",
    }
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert "Secret('***')" in repr(config)


def test_basic_auth_from_a_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\r\n")
    path = write(
        tmp_path,
        '[prometheus]\nurl = "http://a"\nbasic_auth_user = "me"\nbasic_auth_password_file = "pw"\n',
    )
    config = load_config(path, env={})
    assert config.prometheus is not None
    assert config.prometheus.auth() == ("me", PASSWORD)
    assert "Authorization" not in config.prometheus.headers()
    assert PASSWORD not in repr(config)


def test_basic_auth_user_alone_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nbasic_auth_user = "me"\n')
    assert error_of(path) == (
        f"{path}:3: [prometheus] basic_auth_user: needs basic_auth_password_file as well"
    )


def test_env_token_beats_token_file_and_flag_file_beats_env(tmp_path: Path) -> None:
    (tmp_path / "file-token").write_text("from-file\n")
    (tmp_path / "flag-token").write_text("from-flag\n")
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\nbearer_token_file = "file-token"\n')
    env = {"GPUTOP_PROMETHEUS_TOKEN": TOKEN}

    def bearer(**kwargs: object) -> str:
        prom = load_config(path, **kwargs).prometheus  # type: ignore[arg-type]
        assert prom is not None
        return prom.headers()["Authorization"]

    assert bearer(env={}) == "Bearer from-file"
    assert bearer(env=env) == f"Bearer {TOKEN}"
    flag = {"prometheus.bearer_token_file": str(tmp_path / "flag-token")}
    assert bearer(env=env, overrides=flag) == "Bearer from-flag"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            f'bearer_token = "{TOKEN}"',
            "'bearer_token' in [prometheus] would put a secret in the config file; "
            "use bearer_token_file or the GPUTOP_PROMETHEUS_TOKEN environment variable instead",
        ),
        (
            f'basic_auth_password = "{TOKEN}"',
            "'basic_auth_password' in [prometheus] would put a secret in the config file; "
            "use basic_auth_password_file instead",
        ),
        (
            f'headers = {{ Authorization = "Bearer {TOKEN}" }}',
            "[prometheus] headers.Authorization: credentials are not read from the config file",
        ),
    ],
)
def test_inline_secret_is_refused(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, f'[prometheus]\nurl = "http://a"\n{body}\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: {expected}")
    assert TOKEN not in message


def test_inline_secret_in_alertmanager_and_on_the_command_line_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f'[alertmanager]\nurl = "http://am"\ntoken = "{TOKEN}"\n')
    assert "use bearer_token_file instead" in error_of(path)
    message = error_of(overrides={"prometheus.bearer_token": TOKEN})
    assert message.startswith("--prometheus-bearer-token: a secret on the command line")
    assert TOKEN not in message


def test_missing_token_file_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "http://a"\n\nbearer_token_file = "gone"\n')
    assert error_of(path) == (
        f"{path}:4: [prometheus] bearer_token_file: "
        f"bearer token file not found: {tmp_path / 'gone'}"
    )


def test_bad_token_files_never_print_their_contents(tmp_path: Path) -> None:
    (tmp_path / "two-lines").write_text(f"{TOKEN}\n{TOKEN}\n")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "folder").mkdir()
    for name, expected in [
        ("two-lines", "must hold one line"),
        ("empty", "is empty"),
        ("folder", "is a directory"),
    ]:
        path = write(tmp_path, f'[prometheus]\nurl = "http://a"\nbearer_token_file = "{name}"\n')
        message = error_of(path)
        assert expected in message
        assert TOKEN not in message


def test_alertmanager_token(tmp_path: Path) -> None:
    (tmp_path / "am-token").write_text(TOKEN)
    path = write(
        tmp_path, '[alertmanager]\nurl = "http://am:9093"\nbearer_token_file = "am-token"\n'
    )
    config = load_config(path, env={})
    assert config.alertmanager is not None
    assert config.alertmanager.headers() == {"Authorization": f"Bearer {TOKEN}"}
    assert TOKEN not in repr(config)


# --- TLS -------------------------------------------------------------------------------------


def test_tls_verification_is_on_unless_turned_off(tmp_path: Path) -> None:
    path = write(tmp_path, '[prometheus]\nurl = "https://a"\n')
    prom = load_config(path, env={}).prometheus
    assert prom is not None and prom.verify() is True
    prom = load_config(path, env={}, overrides={"prometheus.insecure": True}).prometheus
    assert prom is not None and prom.verify() is False
    path = write(tmp_path, '[prometheus]\nurl = "https://a"\ninsecure = true\n')
    prom = load_config(path, env={}).prometheus
    assert prom is not None and prom.verify() is False
    assert prom.client_kwargs()["verify"] is False


def test_ca_file_gives_a_context_that_verifies(tmp_path: Path) -> None:
    path = write(tmp_path, f'[prometheus]\nurl = "https://a"\nca_file = "{certifi.where()}"\n')
    prom = load_config(path, env={}).prometheus
    assert prom is not None
    context = prom.verify()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.get_ca_certs()


def test_ca_file_that_is_not_pem_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    path = write(tmp_path, '[prometheus]\nurl = "https://a"\nca_file = "ca.pem"\n')
    assert error_of(path) == (
        f"{path}:3: [prometheus] ca_file: {tmp_path / 'ca.pem'} is not a readable PEM "
        "certificate file"
    )


# --- the file is never written; settings are frozen --------------------------------------------


def test_loading_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILED)
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir()))
    load_config(path, profile="prod", env={"GPUTOP_PROMETHEUS_URL": "http://x"})
    after = (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir()))
    assert before == after


def test_settings_are_frozen() -> None:
    config = load_config(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ui.interval = 9.0  # type: ignore[misc]


# --- key lines -------------------------------------------------------------------------------


def test_key_lines_skip_strings_arrays_and_inline_tables() -> None:
    text = textwrap.dedent(
        """
        title = "x"  # a comment with key = 1
        [prometheus]
        headers = { "X-A" = "1", b = { c = 2 } }
        note = \"\"\"
        fake = 1
        [fake]
        \"\"\"
        list = [
          "a", # x = 1
          [1, 2],
        ]
        url = "http://a"
        [profiles.prod.prometheus]
        "quoted.key" = 'v'
        a.b = 1
        """
    ).lstrip("\n")
    tomllib.loads(text)
    lines = KeyLines(text)
    assert lines.line_of(("prometheus",)) == 2
    assert lines.line_of(("prometheus", "headers", "b", "c")) == 3
    assert lines.line_of(("fake",)) is None
    assert lines.line_of(("prometheus", "url")) == 12
    assert lines.line_of(("profiles", "prod", "prometheus", "quoted.key")) == 14
    assert lines.line_of(("profiles", "prod", "prometheus", "a", "b")) == 15
    assert lines.line_of(("profiles", "prod")) == 13
    # An unknown key falls back to its nearest written ancestor.
    assert lines.line_of(("prometheus", "headers", "zzz")) == 3


_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_STRINGS = st.text(alphabet=st.sampled_from(list("ab =[]{}#\"'\\\n.,")), max_size=12)


def _toml_value(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "basic", "literal", "multi", "array", "inline"]))
    text = draw(_STRINGS)
    if kind == "int":
        return str(draw(st.integers(-5, 5)))
    if kind == "basic":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if kind == "literal":
        return "'" + text.replace("'", "").replace("\n", "") + "'"
    if kind == "multi":
        return '"""\n' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'
    if kind == "array":
        return "[\n  1, # x = 2\n  [2],\n]"
    return '{ k = "v", n = { m = 1 } }'


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, dict[tuple[str, ...], int]]:
    lines: list[str] = []
    expected: dict[tuple[str, ...], int] = {}
    sections = draw(st.lists(_KEYS, min_size=1, max_size=4, unique=True))
    for section in sections:
        lines.append(f"[{section}]")
        for key in draw(st.lists(_KEYS, max_size=4, unique=True)):
            expected[(section, key)] = len(lines) + 1
            lines.extend(f"{key} = {_toml_value(draw)}".split("\n"))
        lines.append("")
    return "\n".join(lines), expected


@settings(max_examples=100, deadline=None)
@given(_documents())
def test_key_lines_match_where_keys_were_written(
    document: tuple[str, dict[tuple[str, ...], int]],
) -> None:
    text, expected = document
    tomllib.loads(text)  # the generator writes valid TOML
    lines = KeyLines(text)
    for path, line in expected.items():
        assert lines.line_of(path) == line


_SECTIONS = [
    "prometheus",
    "rules",
    "ui",
    "alertmanager",
    "profiles.p.ui",
    "profiles.p.rules",
    "uii",
]
_FIELD_NAMES = [
    "url",
    "timeout",
    "insecure",
    "headers",
    "range",
    "selector",
    "rules_url",
    "stale_after",
    "files",
    "margin_pct",
    "margins",
    "eval_interval",
    "counters",
    "disabled_checks",
    "interval",
    "kiosk_page_seconds",
    "no_color",
    "token",
    "urll",
]
_LITERALS = [
    "1",
    "0.1",
    "-1",
    "nan",
    "true",
    '"http://a:9090"',
    '"a:9090"',
    '"5m"',
    '"x"',
    "[]",
    '["x.yml"]',
    "{ a = 1 }",
    '{ X-A = "b" }',
    "2024-01-01",
    '""',
]


@st.composite
def _configs(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(_SECTIONS), max_size=4, unique=True)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(_FIELD_NAMES), max_size=4, unique=True)):
            lines.append(f"{key} = {draw(st.sampled_from(_LITERALS))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.one_of(_configs(), st.text(alphabet=st.sampled_from(list('[]{}=."#\n abtrue01ui')))))
def test_any_file_either_loads_or_gives_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path, env={}, profile="p" if "[profiles.p." in text else None)
        except ConfigError as exc:
            assert "\n" not in str(exc)
            assert exc.source == str(path)
            assert exc.line is None or 1 <= exc.line <= max(len(text.splitlines()), 1)


# --- Alertmanager, read-only, kiosk ------------------------------------------------------------


def test_alertmanager_takes_the_same_access_settings_as_prometheus(tmp_path: Path) -> None:
    (tmp_path / "am-password").write_text(PASSWORD + "\n")
    path = write(
        tmp_path,
        f"""
        [alertmanager]
        url = "https://am.example:9093/am/"
        basic_auth_user = "gputop"
        basic_auth_password_file = "am-password"
        headers = {{ X-Scope-OrgID = "ops" }}
        ca_file = "{certifi.where()}"
        timeout = 2.5
        interval = 10
        """,
    )
    am = load_config(path, env={}).alertmanager
    assert am is not None
    assert am.url == "https://am.example:9093/am"
    kwargs = am.client_kwargs()
    assert kwargs["auth"] == ("gputop", PASSWORD)
    assert kwargs["headers"] == {"X-Scope-OrgID": "ops"}
    assert isinstance(kwargs["verify"], ssl.SSLContext)
    assert (kwargs["timeout"], am.interval) == (2.5, 10.0)
    assert PASSWORD not in repr(am)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('basic_auth_user = "u"', "[alertmanager] basic_auth_user: needs basic_auth_password_file"),
        (f'password = "{PASSWORD}"', "use basic_auth_password_file instead"),
        ("interval = 0.5", "[alertmanager] interval: must be at least 1 seconds"),
        ('insecure = "no"', "[alertmanager] insecure: must be true or false"),
    ],
)
def test_bad_alertmanager_settings_name_their_line(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, f'[alertmanager]\nurl = "http://am"\n{body}\n')
    message = error_of(path)
    assert message.startswith(f"{path}:") and expected in message
    assert PASSWORD not in message


def test_read_only_and_kiosk_from_the_file_or_the_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\nkiosk = true\nkiosk_page_seconds = 30\n")
    ui = load_config(path, env={}).ui
    assert (ui.kiosk, ui.read_only, ui.kiosk_page_seconds) == (True, False, 30.0)
    flags = {"ui.read_only": True, "alertmanager.url": "http://am:9093"}
    config = load_config(None, env={}, overrides=flags)
    assert config.ui.read_only and config.alertmanager is not None
    assert error_of(path=write(tmp_path, '[ui]\nread_only = "yes"\n')).endswith(
        "[ui] read_only: must be true or false, not a string"
    )
    message = error_of(overrides={"alertmanager.url": "am:9093"})
    assert message.startswith("--alertmanager: URL has no scheme")
