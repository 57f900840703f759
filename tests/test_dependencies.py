"""pyproject.toml, environment.yml and the rules' conda environment list the same
dependencies with the same version ranges."""

import re
import tomllib

import yaml

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def _parse(entries) -> dict[str, str]:
    out = {}
    for entry in entries:
        if not isinstance(entry, str):
            continue  # the nested pip: section
        name, spec = _REQUIREMENT.match(entry).groups()
        if name.lower() in {"python", "pip"}:
            continue
        out[name.lower()] = spec.replace(" ", "")
    return out


def _conda(path) -> dict[str, str]:
    """The conda packages and those of the nested pip: section (pip options such as
    --editable left out); a package may be listed in only one of the two."""
    entries = yaml.safe_load(path.read_text())["dependencies"]
    pip = [
        entry
        for section in entries
        if isinstance(section, dict)
        for entry in section.get("pip", [])
        if not entry.startswith("-")
    ]
    conda, by_pip = _parse(entries), _parse(pip)
    assert not conda.keys() & by_pip.keys(), (path.name, conda.keys() & by_pip.keys())
    return conda | by_pip


def test_environment_yml_mirrors_pyproject(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    runtime = _parse(project["dependencies"])
    extras = {}
    for group in project.get("optional-dependencies", {}).values():
        extras |= _parse(group)
    assert _conda(root / "environment.yml") == runtime | extras
    assert _conda(root / "workflow" / "envs" / "backproplab.yaml") == runtime


def test_every_rule_env_file_exists(root):
    for smk in (root / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), (smk.name, env)
