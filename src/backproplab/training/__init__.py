"""The train stage (rule ``train``): ``plan`` (parse time: what each job asks a scheduler
for) and ``job`` (the rule's entry point: one block of runs into its traces). Named
``training``, not ``train``: ``backproplab.train`` is the engine's training function."""
