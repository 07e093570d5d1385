"""The `newswire` console script: one subcommand per module, each with a `main(argv) -> int`."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Optional, Sequence

# How newswire's log lines read, in its own process and in a worker process it starts.
LOG_FORMAT = '%(levelname)s %(name)s: %(message)s'

# name -> (module with main(argv) -> exit status, one-line help)
COMMANDS = {
    'run': ('newswire.pipeline.job.run', 'run the pipeline: files (batch) or Pub/Sub (--streaming)'),
    'publish': ('newswire.pipeline.commands.publish', 'publish files as raw messages to a topic'),
    'subscribe': ('newswire.pipeline.commands.subscribe', 'print enriched records from a topic'),
    'topics': ('newswire.pipeline.commands.topics', 'create the topics and subscriptions a deployment needs'),
    'report': ('newswire.pipeline.commands.report', 'render a run\'s output as one self-contained HTML page'),
    'eval': ('newswire.evaluation.evaluate', 'measure enrichment quality (benchmarks; labelled topic texts)'),
    'runners': ('newswire.pipeline.commands.runners', 'install Beam runners (Prism, Flink, Spark) per machine; list them'),
}


def usage() -> str:
    lines = ['usage: newswire COMMAND [ARGS ...]   (newswire COMMAND --help for its options)', '',
             'commands:']
    lines += [f'  {name:<10} {help_text}' for name, (_, help_text) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f'newswire: unknown command {argv[0]!r}\n\n{usage()}', file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    module_name = COMMANDS[argv[0]][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # Only `eval`'s package can be absent: the Dataflow worker image installs the job's code
        # without it (setup.py says why).
        if not f'{module_name}.'.startswith(f'{error.name}.'):  # a dependency of it is missing
            raise
        print(f'newswire {argv[0]}: {module_name} is not installed here (the Dataflow worker image '
              f'leaves it out); install newswire from a checkout: pip install .', file=sys.stderr)
        return 2
    try:
        return module.main(argv[1:])
    except SystemExit as exit_:  # argparse's --help and usage errors
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)


if __name__ == '__main__':
    sys.exit(main())
