"""The hostile-input catalogue's harness (see README.md).

It reuses the integration harness (tests/integration/conftest.py: how pipitd is
started, its log attached to failing tests, encryption at rest on) and its raw
clients (httpraw.py, wsraw.py, chatlib.py). That conftest is loaded under another
module name, because pytest keeps only one module called `conftest` at a time; this
file re-exports what the helpers there import from `conftest`.

One pipitd serves every area (a session fixture, `env`). After each case an autouse
fixture checks, in its teardown (so a crash is an error even for an xfailed case), that
the process is alive, that /healthz answers and that the canary conversation still
carries a message end to end. Each area (test module) ends with a memory check: the
server's VmRSS may not grow more than RSS_BOUND over what it was once the canary was
set up.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(HERE))

_spec = importlib.util.spec_from_file_location("pipit_integration_conftest",
                                               INTEGRATION / "conftest.py")
itest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = itest
_spec.loader.exec_module(itest)

# What chatlib, pushlib and the other integration helpers import from `conftest`, and the
# hooks that attach pipitd's log to a failing test's report.
PASSWORD = itest.PASSWORD
PIPITD = itest.PIPITD
Server = itest.Server
ServerPool = itest.ServerPool
T = itest.T
error_code = itest.error_code
metric_sum = itest.metric_sum
poll_until = itest.poll_until
unique = itest.unique
server_factory = itest.server_factory
module_server_factory = itest.module_server_factory
pytest_runtest_setup = itest.pytest_runtest_setup
pytest_runtest_makereport = itest.pytest_runtest_makereport
pytest_report_header = itest.pytest_report_header

import catalogue  # noqa: E402  (needs the paths above)

# How much pipitd's resident memory may grow over the whole catalogue (README.md). Every
# case is capped at 1 MiB (body, WebSocket message) or 16 KiB (head) and nothing a refused
# request sends may be kept; what may legitimately grow is SQLite's page cache of a small
# database and malloc arenas keeping freed memory (a run grows by under 10 MiB). A leak of
# a small part of what each of ~1,500 cases sends would pass 64 MiB. Samples are taken
# between cases, never while a password hash (64 MiB for a moment) runs.
RSS_BOUND = 64 << 20


def _asan_build():
    try:
        data = Path(PIPITD).read_bytes()
    except OSError:
        return False
    return b"__asan_init" in data or b"AddressSanitizer" in data


# AddressSanitizer keeps freed memory in its quarantine (256 MiB) and adds shadow memory:
# RSS says nothing there, and LeakSanitizer checks for leaks when pipitd exits instead.
RSS_ENFORCED = not _asan_build()

_rss_log = []


def pytest_configure(config):
    """Run together with tests/integration (make asan-test), whose modules do
    `from conftest import ...`: pytest keeps the conftest it loaded last under that name
    (this one), so give the name back to the integration conftest when it is loaded."""
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == str(INTEGRATION / "conftest.py"):
            sys.modules["conftest"] = plugin


@pytest.fixture(scope="session")
def env(tmp_path_factory):
    pool = ServerPool(tmp_path_factory)
    e = catalogue.Env.start(pool)
    try:
        yield e
    finally:
        e.close()
        pool.stop_all()


@pytest.fixture(autouse=True)
def survives(request, env):
    """After each case: pipitd alive, /healthz 200, the canary still carries messages.
    Once pipitd has died the remaining cases are skipped, naming the case that killed it."""
    if env.died_after:
        pytest.skip("pipitd died after %s" % env.died_after)
    yield
    env.check_health(request.node.name)


@pytest.fixture(scope="module", autouse=True)
def area_memory(request, env):
    area = request.module.__name__.replace("test_hostile_", "")
    before = env.rss() if not env.died_after else 0
    yield
    if env.died_after:
        return  # reported by the case that killed it
    after = env.rss()
    _rss_log.append((area, before, after, env.rss_baseline))
    grown = after - env.rss_baseline
    assert grown <= RSS_BOUND or not RSS_ENFORCED, (
        "pipitd's VmRSS grew by %.1f MiB over the catalogue (bound %d MiB) by the end of "
        "area %s (%.1f MiB at its start, %.1f MiB now)" % (
            grown / 2**20, RSS_BOUND >> 20, area, before / 2**20, after / 2**20))


def pytest_terminal_summary(terminalreporter):
    if not _rss_log:
        return
    terminalreporter.section("pipitd memory per area (VmRSS, bound +%d MiB%s)" % (
        RSS_BOUND >> 20, "" if RSS_ENFORCED else ", not enforced under AddressSanitizer"))
    for area, before, after, base in _rss_log:
        terminalreporter.write_line("%-10s %7.1f MiB -> %7.1f MiB (baseline %.1f MiB)" % (
            area, before / 2**20, after / 2**20, base / 2**20))
