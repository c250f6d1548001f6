"""The pins agree: environment.yml (conda) names the same packages and versions as the pip files."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge's name for the same package
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def normalise(name: str) -> str:
    """PEP 503: case, '-', '_' and '.' do not distinguish package names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path):
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith(("-c ", "-r ", "-e ")):
            yield line


def pip_pins(filename, root=ROOT) -> dict[str, str]:
    pins = {}
    for line in requirement_lines(root / filename):
        match = PIN.match(line)
        assert match, f"{filename}: {line!r} is not an exact pin (name==version)"
        name = normalise(match[1])
        assert name not in pins, f"{filename} pins {name} twice"
        pins[name] = match[2]
    return pins


def conda_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip: section installs the project itself
            assert entry == {"pip": ["-e ."]}, f"environment.yml: unexpected pip section {entry}"
            continue
        name, _, version = entry.partition("=")
        if name in ("python", "pip"):
            continue
        assert version and not version.startswith("=") and "*" not in version and "," not in version, (
            f"environment.yml: {entry!r} is not an exact pin (name=version)")
        pins[normalise(CONDA_TO_PIP.get(name, name))] = version
    return pins


@pytest.fixture(scope="module")
def course_pins():
    return pip_pins("requirements.txt")


@pytest.fixture(scope="module")
def dev_pins():
    return pip_pins("requirements-dev.txt")


def test_requirements_files_pin_exactly_and_chain(course_pins, dev_pins):
    assert "torch" in course_pins and "transformers" in dev_pins and "pytest" in dev_pins
    assert not set(course_pins) & set(dev_pins), "a package is pinned in both requirements files"
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text().splitlines()
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_environment_yml_names_the_same_packages_and_versions(course_pins, dev_pins):
    assert conda_pins() == {**course_pins, **dev_pins}


def test_environment_yml_python_is_the_supported_one():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in environment["dependencies"]
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()


def test_constraints_pin_exactly_and_agree_with_both(course_pins, dev_pins):
    constraints = pip_pins("constraints.txt")
    for name, version in {**course_pins, **dev_pins}.items():
        assert constraints.get(name) == version, f"constraints.txt pins {name}=={constraints.get(name)}, requirements {version}"
    for name, version in conda_pins().items():
        assert constraints[name] == version, f"constraints.txt and environment.yml disagree on {name}"


@pytest.mark.parametrize("line", ["torch>=2.4", "torch", "torch~=2.13.0", "torch==2.*"])
def test_the_pin_parser_rejects_loose_pins(tmp_path, line):
    (tmp_path / "loose.txt").write_text(f"numpy==2.4.6\n{line}\n")
    with pytest.raises(AssertionError, match="not an exact pin"):
        pip_pins("loose.txt", root=tmp_path)
