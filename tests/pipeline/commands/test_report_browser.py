"""The seeds' report opened in a real headless Chromium (Debian's chromium + chromedriver, installed
by .ci/run), driven by Selenium: what an analyst would see, checked in the browser's own DOM."""

import json
import os
import pathlib
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from newswire.pipeline.cli import main
from tests.conftest import SEEDS, missing_tool
from tests.pipeline.commands.test_report import HOSTILE, _record, _write_run

pytestmark = pytest.mark.slow

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'


@pytest.fixture(scope='module')
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        missing_tool(f'{CHROMIUM} and {CHROMEDRIVER} are needed: '
                     'apt-get install chromium chromium-driver')

    profile = tempfile.mkdtemp(prefix='newswire-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 f'--user-data-dir={profile}', '--window-size=1280,900'):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    # The driver's path is given, so Selenium Manager never tries to download one.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _console_errors(driver):
    return [entry for entry in driver.get_log('browser') if entry['level'] == 'SEVERE']


def _records(output: pathlib.Path):
    return [json.loads(line) for path in sorted(output.glob('enriched-*.jsonl'))
            for line in path.read_text(encoding='utf-8').splitlines()]


def _full_page_screenshot(driver, path: pathlib.Path):
    height = driver.execute_script('return document.documentElement.scrollHeight')
    driver.set_window_size(1280, height + 120)
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_seeds_report_in_a_real_browser(browser, tmp_path, capsys):
    output = tmp_path / 'out'
    assert main(['run', '--input', str(SEEDS), '--output', str(output), '--report']) == 0
    report = output / 'report.html'
    assert f'report           {report}' in capsys.readouterr().out.splitlines()
    records = _records(output)
    by_seed = {r['source']['id'][:3]: r for r in records}

    browser.get(report.as_uri())
    assert browser.title.startswith('newswire report')
    assert _console_errors(browser) == []
    # Self-contained: the page fetched nothing besides itself.
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)") == []

    stories = browser.find_elements(By.CSS_SELECTOR, 'tr.story')
    assert len(stories) == len({r['dedup']['story_id'] for r in records})
    meeting = stories[0]  # largest first
    shared = {by_seed[seed]['id'] for seed in ('000', '001', '002')}
    assert meeting.get_attribute('data-story-id') == by_seed['002']['id']
    members = meeting.find_elements(By.CSS_SELECTOR, 'details.member')
    assert {m.get_attribute('data-record-id') for m in members} == shared
    assert [m.get_attribute('data-mark') for m in members] == ['first', 'same_story', 'same_story']
    # Three reports of the meeting; their outlets as the records name them: two named outlets
    # (Trend, News.Az) and one report (seed 001) whose attribution names none.
    outlets = {by_seed[seed]['source']['outlet'] for seed in ('000', '001', '002')}
    assert outlets == {'Trend', 'News.Az', None}
    cell = meeting.find_element(By.CSS_SELECTOR, 'td.outlets').text
    assert 'Trend' in cell and 'News.Az' in cell
    assert '3 reports from 2 named outlets + 1 with no outlet named' in cell
    # The story's first report, then the dated ones (000's year comes from 002's story), then 001.
    assert [m.find_element(By.CSS_SELECTOR, '.outlet').text for m in members] == [
        'News.Az', 'Trend', '(no outlet named)']

    # Evidence is highlighted in the text once a report is opened.
    joined = by_seed['001']
    opened = next(m for m in members if m.get_attribute('data-record-id') == joined['id'])
    browser.execute_script('arguments[0].open = true', opened)
    marks = opened.find_elements(By.CSS_SELECTOR, 'mark.evidence')
    evidence = {e['text'] for t in joined['topics'] for e in t['evidence']}
    assert marks and all(m.is_displayed() for m in marks)
    assert all(any(m.text in phrase for phrase in evidence) for m in marks)
    labels_marked = {label for m in marks for label in m.get_attribute('data-topics').split('|')}
    assert labels_marked == {t['label'] for t in joined['topics']}

    # The topic chart (an SVG in the page) has the seeds' topics and an undated bucket.
    chart = browser.find_element(By.CSS_SELECTOR, '#topics-chart svg')
    assert chart.size['width'] > 400 and chart.size['height'] > 200
    legend = {t.text for t in chart.find_elements(By.CSS_SELECTOR, '.legends text')}
    assert legend == {t['label'] for r in records for t in r['topics']}
    x_labels = [t.text for t in chart.find_elements(By.CSS_SELECTOR, '.axis.x .guides text')]
    undated = sum(1 for r in records if r['published_at'] is None)
    assert undated and x_labels[-1] == 'undated'
    assert x_labels[:-1] == sorted({r['published_at'][:10] for r in records if r['published_at']})

    _full_page_screenshot(browser, tmp_path / 'report.png')
    assert _console_errors(browser) == []


def test_hostile_records_do_not_run_in_the_browser(browser, tmp_path):
    text = f'{HOSTILE}\n<img src=x onerror=alert(2)> Mine maps <b>handed</b> over.'
    record = _record('evil', text, outlet='<img src=x onerror=alert(3)>', title=HOSTILE,
                     tags=[(f'</svg>{HOSTILE}', 'Mine maps')])
    run = _write_run(tmp_path / 'run', [record])
    assert main(['report', '--input', str(run)]) == 0
    browser.get((run / 'report.html').as_uri())
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # the property raises when no alert is open
    assert browser.execute_script('return document.querySelectorAll("img").length') == 0
    assert browser.find_element(By.CSS_SELECTOR, '.headline').text == HOSTILE
    assert _console_errors(browser) == []
