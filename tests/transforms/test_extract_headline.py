import pytest

from newswire.transforms.extract import extract_page, without_headline


@pytest.mark.parametrize('title', [
    'Is Football Violence a Crime?',
    'Opinion | Is Football Violence a Crime?',
    'Is Football Violence a Crime? - The Example Journal',
])
def test_first_line_repeating_the_headline_goes(title):
    text = 'Is Football Violence a Crime?\nIt was the shot heard round the world.'
    assert without_headline(text, title) == 'It was the shot heard round the world.'


@pytest.mark.parametrize('text,title', [
    ('Is Football Violence a Crime?', 'Is Football Violence a Crime?'),          # nothing would be left
    ('Football violence is a crime, he said.\nMore.', 'Is Football Violence a Crime?'),  # not the headline
    ('Crime\nBody text.', 'Opinion | Is Football Violence a Crime?'),             # only part of a part
    ('Body text.', None),
])
def test_text_is_kept_otherwise(text, title):
    assert without_headline(text, title) == text


def test_extract_page_keeps_the_headline_as_title_only():
    html = ('<html><head><title>Flood hits the valley | Example News</title></head><body><article>'
            '<h1>Flood hits the valley</h1>'
            + ''.join(f'<p>Paragraph {i}: the river rose overnight and rescuers worked until dawn '
                      f'to reach the villages cut off by the water, officials said.</p>' for i in range(5))
            + '</article></body></html>')
    page = extract_page(html)
    assert page.title.startswith('Flood hits the valley')
    assert not page.text.startswith('Flood hits the valley')
    assert page.text.startswith('Paragraph 0')


@pytest.mark.slow
def test_a_hostile_title_costs_linear_time():
    from tests.reliability.test_linear_rules import LIMIT_SECONDS, _cpu_seconds

    assert _cpu_seconds(lambda title: without_headline('Headline\nBody.', title),
                        ' ' * 1_000_000) <= LIMIT_SECONDS
