"""Start or join Ray: the only code in forkjoin that calls ``ray.init``.

``connect()`` is a context manager with two modes:

* embedded (no address, or ``"local"``): a private Ray on this machine with a
  short temp dir of its own (``/tmp/fj-<pid>``: Ray's socket paths are length
  limited), no dashboard unless asked, stopped with ``ray.shutdown()`` at exit.
  It never runs ``ray stop``, which kills every Ray process on the host.
  Nothing outlives the driver, even a SIGKILLed one: Ray binds the GCS and
  the raylet to it with a parent-death signal, and :func:`export_fate_sharing`
  extends that to the raylet's agents and vLLM's EngineCore and workers.
* join (an address, or ``RAY_ADDRESS``): connect to a running cluster. The
  address is probed with a bounded TCP connect first, so an unreachable
  cluster is a one-line :class:`ClusterError`, never a hang; the cluster is
  left running at exit.

Token auth (Ray >= 2.59 turns it on for clusters ``ray.init`` starts): an
explicit ``RAY_AUTH_MODE`` is always respected. When it is unset and no token
exists (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``), the
embedded cluster gets a random token held only in this process's environment
(inherited by the Ray processes it starts), so nothing is written to
``~/.ray`` and the cluster is still closed to others. Ray caches the token per
process, so one process keeps one token for all embedded clusters it starts.

If Ray is already connected (a test fixture, a job driver that connected
first), ``connect()`` reuses that connection and leaves it open.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import ClusterError
from graphs.errors import one_line

NAMESPACE = "forkjoin"
"""Ray namespace of every actor forkjoin creates (named replicas live here)."""

_TOKEN_SOURCES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
EMBEDDED_RAY_ENV = {
    # An embedded cluster shares the engine's cores: whatever Ray does in the background slows every
    # decode step. Measured idle with one replica actor on 2 cores: 8.2% of a core with Ray's defaults,
    # 5.8% without prestarted idle workers, Ray's own metrics, task events and event-loop stats, which
    # nothing here reads (no dashboard; forkjoin's metrics are OpenTelemetry's). User exports win.
    # Idle without actors, 30 s each: 3.63% of a core as below without the last two, 2.90% with
    # them: the dashboard agent's node report and the autoscaler monitor's poll, every 60 s instead of 5 s
    # (nothing here shows the dashboard or runs `ray status`).
    "RAY_enable_worker_prestart": "0",
    "RAY_prestart_worker_first_driver": "0",
    "RAY_enable_metrics_collection": "0",
    "RAY_task_events_report_interval_ms": "0",
    "RAY_event_stats": "0",
    "REPORTER_UPDATE_INTERVAL_MS": "60000",
    "AUTOSCALER_UPDATE_INTERVAL_S": "60",
}
FATE_SITE_DIR = Path(__file__).resolve().parent / "fate_site"
"""A ``sitecustomize`` that sets PR_SET_PDEATHSIG in the raylet's agents and vLLM's spawned processes."""
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


class ClusterConfig(BaseModel):
    """How to start (embedded) or join a Ray cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: int | None = Field(None, ge=1, description="CPUs of the embedded node; None: all of them.")
    num_gpus: int | None = Field(None, ge=0, description="GPUs of the embedded node; None: detected.")
    dashboard: bool = Field(False, description="Start Ray's dashboard with the embedded cluster.")
    object_store_mb: int = Field(
        512, ge=75, description="Object store of the embedded node in MiB (only chunks pass through it)."
    )
    join_timeout_s: float = Field(10.0, gt=0, description="Bound on reaching a cluster's address.")
    log_to_driver: bool = Field(False, description="Forward actors' stdout/stderr to this process.")
    temp_dir: str | None = Field(
        None, description="Temp dir of the embedded cluster; None: /tmp/fj-<pid> (kept short for sockets)."
    )


class ClusterInfo(BaseModel):
    """What ``connect()`` connected to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(description="GCS address of the cluster.")
    embedded: bool = Field(description="True when this process started the cluster and will stop it.")
    nodes: int = Field(ge=0, description="Alive nodes when connected.")
    cpus: float = Field(ge=0, description="Total CPUs of the cluster.")
    gpus: float = Field(ge=0, description="Total GPUs of the cluster.")
    dashboard_url: str | None = Field(None, description="Dashboard address, when one runs.")


def resolve_address(address: str | None) -> str | None:
    """The cluster to join, or None for an embedded cluster (``"local"`` forces embedded)."""
    chosen = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    return None if chosen in (None, "", "local") else chosen


@contextmanager
def connect(address: str | None = None, config: ClusterConfig | None = None) -> Iterator[ClusterInfo]:
    """Start an embedded Ray or join ``address`` (else ``RAY_ADDRESS``); yield what it is."""
    import ray

    config = config or ClusterConfig()
    if ray.is_initialized():
        yield describe(embedded=False)
        return
    target = resolve_address(address)
    if target is None:
        with _embedded(config) as info:
            yield info
    else:
        with _joined(target, config) as info:
            yield info


@contextmanager
def _embedded(config: ClusterConfig) -> Iterator[ClusterInfo]:
    import ray

    temp_dir = Path(config.temp_dir or f"/tmp/fj-{os.getpid()}")
    _prepare_local_auth()
    export_project_path()
    export_fate_sharing()
    for variable, value in EMBEDDED_RAY_ENV.items():
        os.environ.setdefault(variable, value)
    try:
        context = ray.init(
            address="local",
            namespace=NAMESPACE,
            num_cpus=config.num_cpus,
            num_gpus=config.num_gpus,
            include_dashboard=config.dashboard,
            object_store_memory=config.object_store_mb * 1024 * 1024,
            log_to_driver=config.log_to_driver,
            logging_level=logging.WARNING,
            _temp_dir=str(temp_dir),
        )
    except Exception as exc:
        ray.shutdown()
        raise ClusterError(f"could not start an embedded Ray in {temp_dir}: {one_line(exc)}") from exc
    try:
        yield describe(embedded=True, dashboard_url=context.dashboard_url or None)
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextmanager
def _joined(address: str, config: ClusterConfig) -> Iterator[ClusterInfo]:
    import ray

    _probe(address, config.join_timeout_s)
    try:
        # Ray retries the GCS about once a second (~20 s by default, e.g. on a bad token): bound it.
        with _env_default("RAY_gcs_server_port_wait_time_s", str(math.ceil(config.join_timeout_s))):
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=config.log_to_driver,
                     logging_level=logging.WARNING)
    except Exception as exc:
        ray.shutdown()
        raise ClusterError(f"could not join Ray at {address}: {one_line(exc)}{_auth_hint(exc)}") from exc
    try:
        yield describe(embedded=False)
    finally:
        ray.shutdown()


def describe(*, embedded: bool, dashboard_url: str | None = None) -> ClusterInfo:
    """A snapshot of the connected cluster."""
    import ray

    total = ray.cluster_resources()
    alive = [n for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(
        address=ray.get_runtime_context().gcs_address,
        embedded=embedded,
        nodes=len(alive),
        cpus=total.get("CPU", 0.0),
        gpus=total.get("GPU", 0.0),
        dashboard_url=dashboard_url,
    )


def export_project_path() -> None:
    """Let Ray processes this process starts import forkjoin even when it is not installed.

    Workers inherit the raylet's environment, and the raylet this process's, so
    the checkout that holds this package goes on ``PYTHONPATH`` (a no-op for an
    installed forkjoin). Joined clusters get the code from ``--working-dir``.
    """
    _prepend_pythonpath(str(Path(__file__).resolve().parents[1]))


def export_fate_sharing() -> None:
    """Make the embedded cluster's agents and vLLM's processes die with their parents (SIGKILL included).

    Puts :data:`FATE_SITE_DIR` (a ``sitecustomize``, see its docstring) first on
    ``PYTHONPATH``, which every process of the cluster inherits.
    """
    _prepend_pythonpath(str(FATE_SITE_DIR))


def _prepend_pythonpath(entry: str) -> None:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if entry not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([entry, *paths])


def _prepare_local_auth() -> None:
    """Give an embedded cluster token auth without writing ``~/.ray/auth_token`` (see module doc)."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    has_token = any(os.environ.get(v) for v in _TOKEN_SOURCES) or (Path.home() / ".ray/auth_token").exists()
    if not has_token:
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_urlsafe(32)
    # Ray then sets RAY_AUTH_MODE=token itself and logs that it did; that is our choice, not news.
    logging.getLogger(_AUTH_LOGGER).setLevel(logging.ERROR)


def _probe(address: str, timeout_s: float) -> None:
    """Fail fast unless ``host:port`` accepts TCP connections (``auto`` is left to Ray)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"bad Ray address {address!r}: expected host:port, 'auto' or 'local'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterError(f"Ray cluster at {address} is unreachable ({one_line(exc)})") from exc


@contextmanager
def _env_default(variable: str, value: str) -> Iterator[None]:
    """Set ``variable`` for the block unless the user set it."""
    if variable in os.environ:
        yield
        return
    os.environ[variable] = value
    try:
        yield
    finally:
        os.environ.pop(variable, None)


def _auth_hint(exc: BaseException) -> str:
    chain, cause = [], exc
    while cause is not None and len(chain) < 8:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = " ".join(chain)
    if "InvalidAuthToken" in text or "AuthenticationError" in text:
        return "; the cluster uses token auth: export RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<its token>"
    return ""
