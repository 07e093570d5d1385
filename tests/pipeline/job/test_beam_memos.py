"""`beam_memos`: Beam's answers for newswire's jobs, each worked out once."""

import collections
import types

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (DebugOptions, PipelineOptions, StandardOptions,
                                                  TypeOptions)
from apache_beam.pipeline import PipelineVisitor
from apache_beam.transforms import userstate
from apache_beam.transforms.core import CallableWrapperDoFn

from newswire.pipeline.job import beam_memos
from newswire.pipeline.job.options import NewswireOptions
from newswire.pipeline.job.run import batch_pipeline, pipeline_options, streaming_pipeline
from tests.conftest import SEEDS

SEEN = userstate.SetStateSpec('seen', beam.coders.StrUtf8Coder())


@pytest.fixture
def no_memos():
    """Beam's own functions and no memo; afterwards, as it was (a job built earlier in this process
    installed the memos)."""
    was_installed = userstate.get_dofn_specs is beam_memos.get_dofn_specs
    beam_memos.uninstall()
    yield
    beam_memos.uninstall()
    if was_installed:
        beam_memos.install()


@pytest.fixture
def memos(no_memos):
    """The memos installed, remembering nothing yet."""
    beam_memos.install()


def _dofns(pipeline) -> list:
    class DoFns(PipelineVisitor):
        found = []

        def visit_transform(self, node):
            if isinstance(node.transform, beam.ParDo):
                self.found.append(node.transform.fn)

    visitor = DoFns()
    pipeline.visit(visitor)
    return visitor.found


def _jobs(tmp_path):
    return {
        'batch': batch_pipeline(pipeline_options([f'--input={SEEDS}', f'--output={tmp_path}'])),
        'stream': streaming_pipeline(pipeline_options([
            '--streaming', '--input-subscription', 'projects/memo-test/subscriptions/raw',
            '--output-topic', 'projects/memo-test/topics/enriched',
            '--dead-letter-topic', 'projects/memo-test/topics/dead'])),
    }


def test_every_dofn_of_the_jobs_gets_beams_own_specs(memos, tmp_path):
    stateful = 0
    for name, pipeline in _jobs(tmp_path).items():
        dofns = _dofns(pipeline)
        assert len(dofns) > 40, name
        for dofn in dofns:
            remembered = beam_memos.get_dofn_specs(dofn)
            assert remembered == beam_memos.BEAM_GET_DOFN_SPECS(dofn), (name, dofn)
            assert beam_memos.get_dofn_specs(dofn) == remembered, (name, dofn)
            stateful += bool(remembered[0] or remembered[1])
    assert stateful >= 1  # the streaming index keeps its state and sets timers


def test_a_dofn_with_a_bound_method_of_its_own_is_asked_of_beam(memos):
    class Remembers:
        def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
            yield element

    plain = CallableWrapperDoFn(lambda element: [element])
    assert beam_memos.get_dofn_specs(plain) == (set(), set())
    assert beam_memos.get_dofn_specs(CallableWrapperDoFn(Remembers().process)) == ({SEEN}, set())
    assert beam_memos.get_dofn_specs(plain) == (set(), set())


def test_a_caller_that_changes_its_specs_changes_no_one_elses(memos):
    class Keyed(beam.DoFn):
        def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
            yield element

    states, timers = beam_memos.get_dofn_specs(Keyed())
    states.clear()
    timers.add('not a spec')
    assert beam_memos.get_dofn_specs(Keyed()) == ({SEEN}, set())


def test_a_view_is_remembered_and_shares_the_options_values(memos):
    options = PipelineOptions(['--runner=DirectRunner', '--experiments=a'])
    view = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is view
    view.streaming = True
    assert options.view_as(StandardOptions).streaming is True
    assert options.view_as(TypeOptions).view_as(StandardOptions).streaming is True
    options.view_as(DebugOptions).experiments.append('b')
    assert options.view_as(DebugOptions).experiments == ['a', 'b']
    assert options.get_all_options()['streaming'] is True


def test_a_view_is_made_again_once_the_options_store_is_replaced(memos):
    options = PipelineOptions(['--runner=DirectRunner'])
    view = options.view_as(StandardOptions)
    options._all_options = dict(options._all_options, streaming=True)
    again = options.view_as(StandardOptions)
    assert again is not view and again.streaming is True


def test_views_of_a_jobs_options_answer_as_beams(memos):
    argv = ['--input', str(SEEDS), '--output=out', '--runner=DirectRunner', '--streaming',
            '--experiments=x', '--direct_num_workers=2']
    remembered, fresh = pipeline_options(argv), pipeline_options(argv)
    for cls in (StandardOptions, TypeOptions, DebugOptions, NewswireOptions, *_subclasses()):
        mine = remembered.view_as(cls)
        for _ in range(2):
            assert _values(remembered.view_as(cls)) == _values(mine)
        beams = beam_memos.BEAM_VIEW_AS(fresh, cls)
        assert _values(mine) == _values(beams), cls
    assert remembered.get_all_options() == fresh.get_all_options()


def _subclasses(cls=PipelineOptions):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _values(view) -> dict:
    return {name: getattr(view, name) for name in view._visible_option_list()}


def test_building_a_job_installs_the_memos_and_asks_beam_each_question_once(no_memos, tmp_path,
                                                                             monkeypatch):
    beams_specs, beams_view_as = beam_memos.BEAM_GET_DOFN_SPECS, beam_memos.BEAM_VIEW_AS
    asked = collections.Counter()  # holds what it counts, so no id is used twice

    def specs(dofn):
        if not any(isinstance(value, types.MethodType) for value in vars(dofn).values()):
            asked['specs', type(dofn)] += 1
        return beams_specs(dofn)

    def view_as(options, cls):
        asked['view', options, cls] += 1
        return beams_view_as(options, cls)

    monkeypatch.setattr(beam_memos, 'BEAM_GET_DOFN_SPECS', specs)
    monkeypatch.setattr(beam_memos, 'BEAM_VIEW_AS', view_as)
    pipeline = batch_pipeline(pipeline_options([f'--input={SEEDS}', f'--output={tmp_path}']))
    pipeline.to_runner_api()

    assert userstate.get_dofn_specs is beam_memos.get_dofn_specs
    assert PipelineOptions.view_as is beam_memos.view_as
    assert sum(1 for key in asked if key[0] == 'specs') > 10
    assert sum(1 for key in asked if key[0] == 'view') > 5
    assert max(asked.values()) == 1, asked.most_common(3)
