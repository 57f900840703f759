"""One set of versions everywhere: workflow/envs/requirements.lock pins every package the
pipeline and its tests install, exactly; pyproject.toml's ranges admit those versions;
environment.yml and the rules' conda environment install the lock and nothing else."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = "workflow/envs/requirements.lock"
# The lock's packages whose builds decide the numbers (and the figures' bytes).
NUMERIC = ("numpy", "scipy", "pandas", "pyarrow", "matplotlib", "scikit-learn", "numba", "llvmlite")


def _lock(root) -> dict[str, str]:
    pins = {}
    for line in (root / LOCK).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert m, f"{LOCK}: {line!r} is not an exact pin (name==version)"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{LOCK}: {name} pinned twice"
        pins[name] = m.group(2)
    return pins


def _project(root) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def test_the_lock_pins_every_requirement_within_its_range(root):
    """Runtime dependencies and the test and slurm extras (what the README and CI
    install); the bench extra is installed by hand and stays out of the lock."""
    project, pins = _project(root), _lock(root)
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["test"] + extras["slurm"]
    for entry in requirements:
        req = Requirement(entry)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is required by pyproject.toml but not in {LOCK}"
        assert req.specifier.contains(pins[name]), (
            f"{LOCK} pins {name}=={pins[name]}, outside pyproject.toml's {req.specifier}"
        )
    for name in ("torch", "jax", "jaxlib"):
        assert name not in pins, f"{name} (bench extra) must not be in {LOCK}"


@pytest.mark.parametrize(
    ("env_file", "lock_ref", "editable"),
    [
        ("environment.yml", "workflow/envs/requirements.lock", "."),
        ("workflow/envs/backproplab.yaml", "requirements.lock", "../.."),
    ],
)
def test_conda_environments_install_the_lock_and_nothing_else(root, env_file, lock_ref, editable):
    path = root / env_file
    entries = yaml.safe_load(path.read_text())["dependencies"]
    conda = [e for e in entries if isinstance(e, str)]
    pip = [e for section in entries if isinstance(section, dict) for e in section["pip"]]
    assert {re.split(r"[<>=]", e)[0] for e in conda} == {"python", "pip"}, conda
    assert pip == [f"-r {lock_ref}", f"--editable {editable}"], pip
    assert (path.parent / lock_ref).resolve() == (root / LOCK).resolve()
    assert (path.parent / editable).resolve() == root.resolve()


def test_readme_quick_start_installs_the_lock(root):
    readme = (root / "README.md").read_text()
    commands = re.findall(r"^python3 -m venv .*$", readme, flags=re.M)
    assert len(commands) >= 2, commands
    for command in commands[:2]:
        assert f"-r {LOCK}" in command, command


def test_this_environment_runs_the_locked_numeric_builds(root):
    """The golden digests hold for these builds: an environment installed without the
    lock fails here, by name, rather than in a digest mismatch."""
    pins = _lock(root)
    for name in NUMERIC:
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed")
        assert installed == pins[canonicalize_name(name)], (
            f"{name} {installed} is installed, the lock pins {pins[canonicalize_name(name)]}: "
            f"install with `pip install -r {LOCK} -e '.[test]'`"
        )


def test_every_rule_env_file_exists(root):
    for smk in (root / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), (smk.name, env)
