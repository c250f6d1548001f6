"""Shared fixtures; the plain helpers they use (CONFIGS, DEVICES, random_model) are in tests/helpers.py."""

import pytest
import torch

from tests.helpers import CONFIGS, DEVICES, random_model


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS))
def config(request):
    return CONFIGS[request.param]


@pytest.fixture
def model(config):
    return random_model(config)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One torch thread for the whole session: the tests' tiny models gain nothing from a
    second thread, and on a shared 2-core machine the threads wait for each other.

    Session scope, so it is set before any fixture of any scope (a module fixture that trains
    sees one thread too) and the old count comes back when the session ends. Nothing in the
    suite measures with more threads in this process: the benchmarks (tests/test_benchmark.py,
    tests/test_bench.py) run as subprocesses, whose thread count this does not touch.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
