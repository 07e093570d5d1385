"""newswire's changes to Prism's source (`newswire runners install prism` applies them)."""

import json
import os
import shutil
import subprocess

import pytest

from newswire.pipeline.job import runners
from newswire.pipeline.local.prism_patches import PATCHES, PatchMismatch, apply_patches
from tests.conftest import missing_tool


def _module_source() -> str:
    """Beam's Go module at the installed Beam's version, as Go's module cache holds it."""
    if shutil.which('go') is None:
        missing_tool('Go is needed to read Beam\'s Go module')
    found = subprocess.run(['go', 'list', '-m', '-json', '-mod=mod',
                            f'github.com/apache/beam/sdks/v2@v{runners.beam_version()}'],
                           capture_output=True, text=True, check=False,
                           env={**os.environ, 'GOFLAGS': '-mod=mod', 'GOPROXY': 'off'})
    directory = json.loads(found.stdout).get('Dir') if found.returncode == 0 else None
    if directory is None:
        missing_tool(f'Beam\'s Go module is not in Go\'s module cache: {runners.INSTALL_COMMAND}')
    return directory


def test_the_pinned_beams_prism_takes_each_patch_once(tmp_path):
    source = _module_source()
    patches = PATCHES[runners.beam_version()]
    for patch in patches:
        (tmp_path / patch.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(source, patch.path), tmp_path / patch.path)
    assert apply_patches(tmp_path, runners.beam_version()) == [p.path for p in patches]
    stage = (tmp_path / 'go/pkg/beam/runners/prism/internal/stage.go').read_text()
    start = stage.index('case <-dataReady:')
    assert 'dataReady = nil' in stage[start:stage.index('case <-progTick.C:', start)]
    tick = stage.index('baseTick := s.baseProgTick.Load()')
    assert 'if !s.sdfSplittable {\n\t\t// newswire' in stage[tick:stage.index('NewTicker(baseTick)', tick)]
    # Applied again, the text it replaces is gone: refused rather than patched twice.
    with pytest.raises(PatchMismatch, match='0 copies'):
        apply_patches(tmp_path, runners.beam_version())


def test_a_version_without_patches_is_built_as_it_is(tmp_path):
    assert apply_patches(tmp_path, '2.70.0') == []
    assert runners.prism_path('2.70.0').parent.name == '2.70.0'
    assert runners.prism_path().parent.name.startswith(f'{runners.beam_version()}+')
