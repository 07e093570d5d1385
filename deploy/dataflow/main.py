"""Flex Template entry point: the launcher runs `python main.py --name=value ...` with the template
parameters and Dataflow's own options; this is exactly `newswire run` with those arguments.

The launcher passes `--template_location`, so `newswire run` hands back the job graph instead of
waiting for the job (see `newswire.pipeline.job.run.only_describes_job`).
"""

import sys

from newswire.pipeline.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', *sys.argv[1:]]))
