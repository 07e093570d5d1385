"""One Beam version everywhere: pyproject.toml pins it; the Dockerfile, the compose files and the
Makefile must agree with it (and the installed Beam is that version)."""

import re
import subprocess

import apache_beam
import pytest
import yaml

from tests.deploy.conftest import DATAFLOW, DEPLOY, dockerfile_args, pinned_beam_version


def test_installed_beam_is_the_pinned_one():
    assert apache_beam.__version__ == pinned_beam_version()


def test_dockerfile_builds_from_the_pinned_beam_sdk_image():
    args = dockerfile_args()
    assert args['BEAM_VERSION'] == pinned_beam_version()
    text = (DATAFLOW / 'Dockerfile').read_text(encoding='utf-8')
    assert 'FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}' in text
    # The launcher binary comes from the launcher image for the same Python as the SDK image.
    assert f"python{args['PYTHON_VERSION'].replace('.', '')}-template-launcher-base" in \
        args['LAUNCHER_IMAGE']


@pytest.mark.slow  # runs make
def test_makefile_reads_the_version_from_pyproject():
    done = subprocess.run(['make', '-s', '-C', str(DATAFLOW), 'version'], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == pinned_beam_version()


def test_make_image_passes_the_pyproject_version_to_docker():
    done = subprocess.run(['make', '-n', '-s', '-C', str(DATAFLOW), 'image', 'PROJECT=p'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f'--build-arg BEAM_VERSION={pinned_beam_version()}' in done.stdout


def _images(compose_file):
    compose = yaml.safe_load(compose_file.read_text(encoding='utf-8'))
    return compose, {name: service.get('image', '') for name, service in compose['services'].items()}


@pytest.mark.parametrize('runner', ['flink', 'spark'])
def test_compose_beam_images_are_the_pinned_version(runner):
    version = pinned_beam_version()
    compose, images = _images(DEPLOY / runner / 'compose.yaml')
    beam_images = {name: image for name, image in images.items() if '/beam_' in image or
                   image.startswith('newswire-worker')}
    assert beam_images, 'the compose file names Beam images'
    for name, image in beam_images.items():
        assert image.rsplit(':', 1)[1] == version, f'{name}: {image}'
    build = compose['services']['python-worker-pool']['build']
    assert build['dockerfile'] == 'deploy/dataflow/Dockerfile'
    assert build['args'] == {'BEAM_VERSION': version,
                             'PYTHON_VERSION': dockerfile_args()['PYTHON_VERSION']}


def test_cloud_build_takes_the_version_from_the_makefile():
    text = (DATAFLOW / 'cloudbuild.yaml').read_text(encoding='utf-8')
    assert not re.search(r'\d+\.\d+\.\d+', text), 'no version written into cloudbuild.yaml'
    assert '--build-arg=BEAM_VERSION=${_BEAM_VERSION}' in text
