# backprop-lab: every figure of the seed notebooks, regenerated from one command.
# Thin on purpose: the rules live in workflow/rules/, the logic in src/backproplab/.
from snakemake.utils import min_version

min_version("8.20")


# The default experiments, unless --configfile names others (Snakemake would otherwise
# merge the two configs, running the default experiments too; a given config that
# defines no experiments is an error, see common.smk, not a reason to run the defaults).
if not workflow.overwrite_configfiles and not config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/compile.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/gradcheck.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
