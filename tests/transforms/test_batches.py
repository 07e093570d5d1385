import apache_beam as beam
import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, GlobalWindow, IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from newswire.transforms.batches import BatchWithinBundle, Stamped, restamped
from tests.conftest import direct_pipeline


class _Doubled(beam.DoFn):
    """A batch stage: one output per element, the odd ones on a tag of their own."""

    def process(self, batch):
        return restamped(batch, [TaggedOutput('odd', s.value * 2) if s.value % 2 else s.value * 2
                                 for s in batch])


def _stamps(pcoll, label):
    return pcoll | label >> beam.Map(lambda x, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam:
                                     (x, ts, w))


def test_batches_keep_each_elements_timestamp_and_window():
    values = list(range(23))
    with direct_pipeline() as p:
        stamped = (p | beam.Create(values)
                   | beam.Map(lambda v: TimestampedValue(v, 100 * v))
                   | beam.WindowInto(FixedWindows(500)))
        batches = stamped | 'Batch' >> beam.ParDo(BatchWithinBundle(4))
        assert_that(batches | beam.Map(lambda batch: sorted(s.value for s in batch)),
                    _partition_of(values, most=4), label='every element once, at most 4 a batch')
        assert_that(batches | beam.Map(lambda batch: len({s.window for s in batch})),
                    _all_ones(), label='one window a batch')
        outputs = batches | beam.ParDo(_Doubled()).with_outputs('odd', main='even')
        expected = [(2 * v, Timestamp(100 * v), IntervalWindow(500 * (v // 5), 500 * (v // 5) + 500))
                    for v in values]
        assert_that(_stamps(outputs.even, 'Even'), equal_to([e for e in expected if e[0] % 4 == 0]),
                    label='even')
        assert_that(_stamps(outputs.odd, 'Odd'), equal_to([e for e in expected if e[0] % 4 == 2]),
                    label='odd')


def _partition_of(values, most):
    def check(batches):
        assert sorted(v for batch in batches for v in batch) == values
        assert all(1 <= len(batch) <= most for batch in batches)
    return check


def _all_ones():
    def check(sizes):
        assert sizes and set(sizes) == {1}
    return check


def test_a_batch_is_stamped_with_its_earliest_element():
    fn = BatchWithinBundle(3)
    fn.start_bundle()
    window = GlobalWindow()
    outputs = [out for ts in (30, 10, 20) for out in fn.process(ts, Timestamp(ts), window)]
    assert len(outputs) == 1 and outputs[0].timestamp == Timestamp(10)
    assert [s.timestamp for s in outputs[0].value] == [Timestamp(30), Timestamp(10), Timestamp(20)]
    assert list(fn.process(5, Timestamp(5), window)) == []
    rest = list(fn.finish_bundle())
    assert [s.value for s in rest[0].value] == [5] and list(fn.finish_bundle()) == []


def test_a_stream_keeps_its_timestamps_through_a_batch():
    """In a stream the records leave with the timestamps they came with (Beam's BatchElements
    would stamp them all with the end of the global window)."""
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(v, 10 + v) for v in range(5)])
              .advance_watermark_to(20)
              .add_elements([TimestampedValue(v, 30 + v) for v in range(5, 8)])
              .advance_watermark_to_infinity())
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    with BeamTestPipeline(options=options) as p:
        doubled = (p | stream | beam.ParDo(BatchWithinBundle(64))
                   | beam.ParDo(_Doubled()).with_outputs('odd', main='even'))
        assert_that(_stamps(doubled.even, 'Even') | beam.Map(lambda s: (s[0], s[1])),
                    equal_to([(2 * v, Timestamp(10 + v if v < 5 else 30 + v)) for v in (0, 2, 4, 6)]))


def test_restamped_needs_one_output_per_element():
    batch = [Stamped(1, Timestamp(1), GlobalWindow()), Stamped(2, Timestamp(2), GlobalWindow())]
    with pytest.raises(ValueError, match='one each'):
        list(restamped(batch, ['only one']))


def test_a_batch_holds_at_least_one_element():
    with pytest.raises(ValueError):
        BatchWithinBundle(0)
