"""One class graded serially, in a local process pool and on a Dask cluster: the same grades."""

import pytest

from autograder.grade import Options
from autograder.sandbox import sandbox_problem
from autograder.unit import Settings
from autograder.verify import grade_samples
from autograder.workspace import REPO, Course, Workspace

pytestmark = pytest.mark.slow

FIXTURES = Course(source=REPO / "tests" / "fixtures" / "solutions", samples=REPO / "tests" / "fixtures" / "samples")
CLASS = ("solution", "blank", "partial", "delegates-closure")


def _grade(root, **options):
    settings = Settings(cell_timeout=10, sandbox=not sandbox_problem())
    outcomes = grade_samples(Workspace(root, FIXTURES), ["00-fixture"], only=CLASS,
                             options=Options(settings, progress=False, **options))
    grades = {o.sample.name: (o.grade.status, o.grade.points, o.grade.notes) for o in outcomes}
    feedback = {o.sample.name: o.grade.feedback.read_bytes() for o in outcomes}
    return grades, feedback, (root / "grades.csv").read_text()


def test_serial_parallel_and_dask_grading_agree(tmp_path):
    from distributed import LocalCluster

    serial = _grade(tmp_path / "serial", workers=1)
    pool = _grade(tmp_path / "pool", workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cluster_run = _grade(tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert serial[0]["partial"][1] == {"E0-01": 0, "E0-02": 0, "E0-03": 1.0, "E0-04": 2.0}
    for other in (pool, cluster_run):
        assert other[0] == serial[0]  # statuses, points and notes
        assert other[1] == serial[1]  # the feedback each student gets, byte for byte
        assert other[2] == serial[2]  # grades.csv
