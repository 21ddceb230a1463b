import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "nightly",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATASETS = SHARED / "datasets"


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run long sweeps and soak tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("KINONB_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow (or KINONB_RUN_SLOW=1) to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def datasets_dir():
    """The real third-party datasets beside the repo; tests that use them skip when it is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"{DATASETS} is absent (a fresh clone has no ../shared)")
    return DATASETS


def _scheduling():
    try:
        return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    except (AttributeError, OSError):
        return None


@pytest.fixture(autouse=True)
def scheduling_unchanged():
    """No test may leave the pytest thread real-time (libsvtav1 does so to whoever opens it; see
    kinonb/codecs/scheduling.py): every process a later test starts would inherit it and starve the machine."""
    before = _scheduling()
    yield
    after = _scheduling()
    if after != before:
        os.sched_setscheduler(0, before[0], os.sched_param(before[1]))
        pytest.fail(f"this test changed the thread's scheduling policy from {before} to {after} (put back)")
