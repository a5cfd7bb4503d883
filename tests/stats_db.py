"""Databases for the statistics tests: SQLite files, and a real PostgreSQL server started here.

The server is Debian's ``postgresql`` (installed by scripts/install-system-deps): a throwaway
cluster in a temporary folder (owned by the ``postgres`` user when the tests run as root,
since PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free port with its
socket in that folder, stopped and removed at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from ivr.stats import store
from ivr.stats.batch import Batch
from ivr.stats.events import TurnEvent, TurnFacts
from ivr.stats.store import migrate
from support import free_port

_counter = itertools.count()


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    assert on_path, f"{name} not found: install Debian's postgresql (scripts/install-system-deps)"
    return on_path


@dataclass
class Postgres:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def processes(self) -> list[int]:
        """The postmaster and every process it started (the backends serving connections)."""
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(stat.parent.name))
        return [master, *children]

    def signal_all(self, sig: signal.Signals) -> None:
        for pid in self.processes():
            # A backend that ended between the listing and the signal (its client went away) needs none.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def new_database(self) -> str:
        name = f"stats_{os.getpid()}_{next(_counter)}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url(name)


@pytest.fixture(scope="session")
def _postgres_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ivr-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cluster(folder: Path) -> Iterator[Postgres]:
    folder.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = Postgres(folder, free_port())
    server.init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.signal_all(signal.SIGCONT)
        except (OSError, ValueError):
            pass
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass


@pytest.fixture(scope="session")
def postgres(_postgres_folder: Path) -> Iterator[Postgres]:
    """One server for the session; each test takes a database of its own."""
    yield from _cluster(_postgres_folder / "shared")


@pytest.fixture
def own_postgres(_postgres_folder: Path) -> Iterator[Postgres]:
    """A server for one test, which it may stop or pause."""
    yield from _cluster(_postgres_folder / f"own{next(_counter)}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated statistics database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'stats.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    migrate(url)
    return url


NOW = 1_800_000_000.0  # an hour's start plus nothing: 2027-01-15 08:00 UTC


def turn(
    call: str,
    at: float,
    node: str,
    outcome: str,
    *,
    lang: str = "fr",
    seconds: float = 10.0,
    dial: str | None = None,
    line: str = "-",
    target: int = -1,
    **facts: float,
) -> TurnEvent:
    return TurnEvent(
        at,
        call,
        "helpline",
        node,
        lang,
        outcome,
        TurnFacts(seconds, facts.get("line_at"), facts.get("dial_at"), int("dial_at" in facts)),
        dial,
        line,
        target,
    )


def write(url: str, batch: Batch, now: float = NOW) -> int:
    engine = store.make_engine(url)
    with engine.begin() as conn:
        store.write_batch(conn, batch)
        finished = store.finish_calls(conn, now)
    engine.dispose()
    return finished


def rows(url: str, table: store.Table) -> list[dict[str, object]]:
    engine = store.make_engine(url)
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(select(table)).mappings()]
    engine.dispose()
    return found
