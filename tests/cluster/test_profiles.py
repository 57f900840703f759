"""The execution profiles and what every rule tells a scheduler.

Snakemake reads profiles/default on every run of this workflow, also under
`--profile profiles/slurm`, and lets its keys win; every rule must declare its threads,
memory and wall time (a SLURM job gets what its rule asks for); and every small rule is
grouped, so that a cluster runs few jobs for many figures.
"""

import re

import yaml
from snakemake_runs import resources, scheduled_jobs, snakemake

CONFIG = "config/test.yaml"
# The target rule runs nothing (it stays on the login node), and a training job is
# already sized by block_size: neither is grouped.
UNGROUPED = {"all", "train"}


def _profile(root, name):
    return yaml.safe_load((root / "profiles" / name / "config.yaml").read_text())


def test_default_profile_holds_only_settings_that_suit_every_executor(root):
    default, slurm = _profile(root, "default"), _profile(root, "slurm")
    clashes = {key: (value, slurm[key]) for key, value in default.items() if key in slurm}
    clashes = {key: values for key, values in clashes.items() if values[0] != values[1]}
    assert not clashes, f"profiles/default would override profiles/slurm: {clashes}"
    assert "executor" not in default


def test_every_small_rule_is_grouped_for_slurm(root, workflow_copy):
    listing = snakemake(workflow_copy, "--configfile", CONFIG, "--list-rules")
    rules = set(re.findall(r"^(\w+)$", listing, flags=re.MULTILINE))
    # One figure rule per experiment, each declaring group "figures" in figures.smk.
    figures = {rule for rule in rules if rule.startswith("figures_")}
    assert len(figures) == 3, rules
    assert 'group:\n            "figures"' in (root / "workflow/rules/figures.smk").read_text()
    rules -= figures
    slurm = _profile(root, "slurm")
    groups = slurm["groups"]
    assert set(groups) == rules - UNGROUPED, (
        "profiles/slurm/config.yaml, groups: list every rule but "
        f"{sorted(UNGROUPED)} (missing: {sorted(rules - UNGROUPED - set(groups))}, "
        f"unknown: {sorted(set(groups) - rules)})"
    )
    assert set(slurm["group-components"]) == {*groups.values(), "figures"}


def test_every_job_asks_for_its_own_memory_and_wall_time(workflow_copy):
    # Defaults no rule would declare: a job that shows one has not declared its own.
    sentinel = "7"
    dry_run = snakemake(
        workflow_copy,
        *("--configfile", CONFIG, "--dry-run", "--forceall"),
        *("--default-resources", f"mem_mb={sentinel}", f"runtime={sentinel}"),
    )
    jobs = scheduled_jobs(dry_run)
    assert {job["rule"] for job in jobs} >= {"dataset", "compile_trainer", "train", "report"}
    assert any(job["rule"].startswith("figures_") for job in jobs)
    for job in jobs:
        asked = resources(job)
        assert sentinel not in (asked.get("mem_mb"), asked.get("runtime")), job


def test_every_rule_declares_its_threads(root):
    # A dry run cannot tell a declared `threads: 1` from the default: read the rules.
    for path in sorted((root / "workflow" / "rules").glob("*.smk")):
        for rule in re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.MULTILINE)[1:]:
            name = rule.split(":")[0]
            assert re.search(r"^    threads: ", rule, flags=re.MULTILINE), f"{path.name}: {name}"
