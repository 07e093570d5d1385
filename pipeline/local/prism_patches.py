"""Changes newswire makes to Prism's Go source before building it (`newswire runners install
prism`), each for a limitation of the pinned Beam's Prism that newswire's streaming runs hit.

Prism 2.77's stage loop (`internal/stage.go`, `stage.Execute`) waits for a bundle in a `select` on
the bundle's response, its data-done channel and a progress ticker. Once the bundle's outputs are
done, the data-done channel is closed, and a closed channel is always ready: the loop selects it
again and again until the SDK's response arrives, one core spinning for as long as the bundle
still runs (a stage without outputs spins for the whole bundle), taking a core from the Python
worker on a small machine; `perf` put most of Prism's CPU in that `select` (bench/README.md has
the figures). The change stops selecting the channel once it has fired.

The same loop asks the SDK for a progress report every 100 ms or more of a bundle (the tick
adapts between 100 ms and 30 s), to decide on splits and to show tentative metrics. A stream runs
with splits off (`runners.PRISM_NO_SPLITS`), so a report only refreshes metrics that the bundle's
end commits anyway, yet the Python worker answers each one: with many short bundles in flight,
about an eighth of its time at 100 messages a second. With splits off the change starts the tick
at its 30 s maximum; batch runs, which split, are unchanged.

Neither is reported upstream as of this writing; Beam's Prism is tracked in apache/beam#29650.
"""

from __future__ import annotations

from typing import NamedTuple


class SourcePatch(NamedTuple):
    path: str  # in Beam's Go module (github.com/apache/beam/sdks/v2)
    old: str   # must occur exactly once
    new: str


# Per Beam version. The build's cache entry is named after `PATCH_LEVEL` (`runners.prism_path`), so
# a change here is built anew.
PATCH_LEVEL = 'newswire.2'
_STAGE_GO = 'go/pkg/beam/runners/prism/internal/stage.go'
PATCHES = {
    '2.77.0': (
        SourcePatch(
            _STAGE_GO,
            old='\t\tcase <-dataReady:\n\t\t\tdataFinished = true\n\t\t\tif dataFinished',
            new='\t\tcase <-dataReady:\n\t\t\tdataFinished = true\n'
                '\t\t\t// newswire: closed, it would be selected again and again until the bundle\n'
                '\t\t\t// responds; a nil channel is never selected.\n'
                '\t\t\tdataReady = nil\n\t\t\tif dataFinished'),
        SourcePatch(
            _STAGE_GO,
            old='\tbaseTick := s.baseProgTick.Load().(time.Duration)\n',
            new='\tbaseTick := s.baseProgTick.Load().(time.Duration)\n'
                '\tif !s.sdfSplittable {\n'
                '\t\t// newswire: no split to decide, a report only refreshes tentative metrics.\n'
                '\t\tbaseTick = maximumProgTick\n'
                '\t}\n'),
    ),
}


class PatchMismatch(Exception):
    """The source is not what a patch was written against."""


def apply_patches(root, version: str) -> list[str]:
    """Applies `version`'s patches to the module source under `root` (a `pathlib.Path`); returns
    the paths changed.

    Raises:
        PatchMismatch: a patch's text is not found exactly once.
    """
    changed = []
    for patch in PATCHES.get(version, ()):
        path = root / patch.path
        text = path.read_text(encoding='utf-8')
        if text.count(patch.old) != 1:
            raise PatchMismatch(f'{patch.path} has {text.count(patch.old)} copies of the text the '
                                f'patch replaces, expected 1')
        path.write_text(text.replace(patch.old, patch.new), encoding='utf-8')
        changed.append(patch.path)
    return changed
