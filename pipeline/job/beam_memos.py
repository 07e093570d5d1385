"""Memos for two answers Beam 2.77's Python SDK works out again each time it builds or starts a job.

Beam asks two questions of the same objects many times per transform, and each answer is costly:

- `PipelineOptions.view_as(cls)` builds an argparse parser for `cls`'s flags and parses the job's
  flags with it, on every call; applying a transform asks for `TypeOptions` several times
  (`Pipeline.apply`, output type inference, `typehints.is_consistent_with`).
- `userstate.get_dofn_specs(dofn)` reads the signature of every method a DoFn has (most of them
  `DoFn`'s own) to find state and timer parameters, on every call: ParDo construction, validation,
  the runner API proto, the DirectRunner's overrides and each bundle's operations ask again.

Together they were over a third of the CPU of a one-document job, a cost every job pays whatever
its size (bench/README.md, round 20). We found no upstream issue about either; both are ours to report.

What `install()` changes, and why the answers stay Beam's:

- A view is remembered per options object and class, and given again while it still shares the
  object's flags and option store. A view holds no values of its own: every view of one object
  reads and writes the object's `_all_options`, and a view created again would find its options
  there already (Beam only fills in the ones that are missing), so the remembered view and a new one
  answer alike.
- Specs are remembered per DoFn class, for instances whose methods are the class's. The answer
  depends only on the methods' parameters, and those come from the class, unless an instance holds
  bound methods of its own (Beam's `CallableWrapperDoFn` around a bound method,
  `_ExceptionHandlingWrapperDoFn`): those are asked of Beam every time. Callers get sets of their
  own, so none can change another's answer.

`install()` is idempotent; `run._new_pipeline` calls it before any job's graph is built. `uninstall()`
puts Beam's functions back. `tests/pipeline/job/test_beam_memos.py` checks the answers against
Beam's own for every DoFn and options class of newswire's jobs.
"""

from __future__ import annotations

import types
import weakref

from apache_beam.options import pipeline_options
from apache_beam.transforms import userstate

# Beam's functions, kept before `install()` replaces them.
BEAM_VIEW_AS = pipeline_options.PipelineOptions.view_as
BEAM_GET_DOFN_SPECS = userstate.get_dofn_specs

# options object -> {options class: its view}; weak, so a job's options and views go with the job.
_views: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
# DoFn class -> (state specs, timer specs); weak, so classes made per test or per job can go.
_specs: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def view_as(self, cls):
    """`PipelineOptions.view_as`, the view remembered while it shares this object's flags and
    option store."""
    known = _views.setdefault(self, {})
    view = known.get(cls)
    # `vars()`: PipelineOptions' own __getattr__ would look the names up as options.
    if view is None or not _shares_store(vars(view), vars(self)):
        view = known[cls] = BEAM_VIEW_AS(self, cls)
    return view


def _shares_store(view: dict, source: dict) -> bool:
    return (view.get('_all_options') is source.get('_all_options')
            and view.get('_flags') is source.get('_flags'))


def get_dofn_specs(dofn):
    """`userstate.get_dofn_specs`, remembered per DoFn class for instances without bound methods of
    their own."""
    if any(isinstance(value, types.MethodType) for value in vars(dofn).values()):
        return BEAM_GET_DOFN_SPECS(dofn)
    cls = type(dofn)
    found = _specs.get(cls)
    if found is None:
        found = _specs[cls] = BEAM_GET_DOFN_SPECS(dofn)
    state_specs, timer_specs = found
    return set(state_specs), set(timer_specs)


def install() -> None:
    """Make Beam use the memos (idempotent)."""
    pipeline_options.PipelineOptions.view_as = view_as
    userstate.get_dofn_specs = get_dofn_specs


def uninstall() -> None:
    """Give Beam its own functions back and forget what was remembered."""
    pipeline_options.PipelineOptions.view_as = BEAM_VIEW_AS
    userstate.get_dofn_specs = BEAM_GET_DOFN_SPECS
    _views.clear()
    _specs.clear()
