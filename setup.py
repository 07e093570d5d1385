"""The packages of an install; everything else about it is in pyproject.toml.

The repository keeps its own layout (pipeline/, transforms/, evaluation/ at the top); installed,
they live under one import namespace, `newswire`, so they cannot collide with other packages'
top-level names. This list is here, not in pyproject.toml, for one reason: `newswire.evaluation`
(`newswire eval`) is installed only where its folder is. A checkout has it; the Dataflow worker
image copies only pipeline/ and transforms/ (deploy/dataflow/Dockerfile), so workers install the
job's code and not the evaluation harness, and `newswire eval` there says it is absent.
"""

import os

from setuptools import setup

PACKAGES = {
    'newswire.pipeline': 'pipeline',
    'newswire.pipeline.job': 'pipeline/job',
    'newswire.pipeline.commands': 'pipeline/commands',
    'newswire.pipeline.local': 'pipeline/local',
    'newswire.transforms': 'transforms',
    'newswire.transforms.dedup': 'transforms/dedup',
    'newswire.evaluation': 'evaluation',
}
PRESENT = {name: path for name, path in PACKAGES.items() if os.path.isdir(path)}

setup(package_dir=PRESENT, packages=list(PRESENT))
