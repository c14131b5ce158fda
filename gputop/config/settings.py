"""The settings gputop runs with: frozen, validated, secrets wrapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gputop.config.secret import Secret

if TYPE_CHECKING:
    import ssl

__all__ = [
    "DEFAULT_LATENCY_HISTOGRAM",
    "AlertmanagerSettings",
    "Config",
    "PrometheusSettings",
    "RuleSettings",
    "UiSettings",
]

DEFAULT_LATENCY_HISTOGRAM = "t2v_inference_duration_seconds"


@dataclass(frozen=True, kw_only=True)
class _HttpAccess:
    """How to reach an HTTP API: the request headers, basic auth, TLS verification and
    timeout, as httpx takes them (Prometheus and Alertmanager are configured alike)."""

    url: str
    bearer_token: Secret | None = None
    basic_auth_user: str | None = None
    basic_auth_password: Secret | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    secret_headers: tuple[tuple[str, Secret], ...] = ()  # from header_files / header_env
    ca_file: Path | None = None
    insecure: bool = False
    timeout: float = 5.0

    def headers(self) -> dict[str, str]:
        """Request headers for httpx: the configured extra headers, the credential headers
        and the bearer token."""
        headers = dict(self.extra_headers)
        headers.update((name, secret.reveal()) for name, secret in self.secret_headers)
        if self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token.reveal()}"
        return headers

    def auth(self) -> tuple[str, str] | None:
        """Basic-auth pair for httpx, or None."""
        if self.basic_auth_user is None or self.basic_auth_password is None:
            return None
        return (self.basic_auth_user, self.basic_auth_password.reveal())

    def verify(self) -> bool | ssl.SSLContext:
        """TLS verification for httpx: False when insecure, a context for the CA file, else True.

        A context rather than the CA path: httpx 0.28 deprecates `verify=<str>`.
        """
        if self.insecure:
            return False
        if self.ca_file is not None:
            import ssl  # only with a CA file configured

            return ssl.create_default_context(cafile=str(self.ca_file))
        return True

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.AsyncClient(...)`: headers, auth, verify, timeout."""
        return {
            "headers": self.headers(),
            "auth": self.auth(),
            "verify": self.verify(),
            "timeout": self.timeout,
        }


@dataclass(frozen=True, kw_only=True)
class PrometheusSettings(_HttpAccess):
    """Where Prometheus is and how to talk to it. Durations are in seconds."""

    latency_histogram: str = DEFAULT_LATENCY_HISTOGRAM
    selector: str = ""  # label matchers without braces, e.g. Hostname="node-3"
    range: float = 900.0
    rules_url: str | None = None  # where /api/v1/rules is, when not at `url` (e.g. vmalert)
    stale_after: float | None = None  # None: 3 scrape intervals or 3 refreshes, at least 15 s


@dataclass(frozen=True)
class RuleSettings:
    """Rule files, how near a threshold counts as "near firing", and how `rules check`
    judges them: the evaluation interval of groups without their own (None: not known), the
    dcgm-exporter counters files the rules' exporter runs with, and the checks turned off."""

    files: tuple[Path, ...] = ()
    margin_pct: float = 10.0
    margins: tuple[tuple[str, float], ...] = ()  # rule name -> percent, overriding margin_pct
    eval_interval: float | None = None
    counters: tuple[Path, ...] = ()
    disabled_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class UiSettings:
    interval: float = 1.0
    kiosk_page_seconds: float = 15.0
    no_color: bool = False
    read_only: bool = False  # no action that changes anything: no silences, no signals
    kiosk: bool = False  # a wall screen: read-only, keys ignored but the exit chord


@dataclass(frozen=True, kw_only=True)
class AlertmanagerSettings(_HttpAccess):
    """Where Alertmanager is, how to talk to it, and how often to ask (seconds)."""

    interval: float = 5.0


@dataclass(frozen=True)
class Config:
    """Everything gputop was configured with; `path` is the file read (None: no file)."""

    prometheus: PrometheusSettings | None = None
    rules: RuleSettings = RuleSettings()
    ui: UiSettings = UiSettings()
    alertmanager: AlertmanagerSettings | None = None
    path: Path | None = None
    profile: str | None = None
    #: Said before gputop starts, e.g. a token file that others can read.
    warnings: tuple[str, ...] = ()
