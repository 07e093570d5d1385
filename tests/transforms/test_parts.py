"""A second article run on inside a text is flagged with its headline and offsets; subheadings are not."""

import pytest

from newswire.pipeline.job.settings import load_settings
from newswire.transforms.parts import (FlagEmbeddedArticlesFn, PartsConfig, find_embedded_articles,
                                       paragraphs)
from newswire.transforms.records import Document, SourceRef
from tests.conftest import SEEDS, seed_path

CONFIG = load_settings().parts

FIRST = (
    'The harbour authority of Port Ellery said on Thursday that the northern quay will reopen to '
    'container ships next week, after three months of repairs to its crane rails, Coastal Wire '
    'reports.\n\n'
    'Inspectors signed off the last section of rail on Wednesday evening, the authority said. The '
    'first ship expected at the quay is a feeder vessel carrying fruit and machine parts.\n\n'
    'Shipping agents welcomed the news but said the backlog at the southern quay would take weeks '
    'to clear, since ships had been queuing outside the breakwater since the spring.')
SECOND_HEADLINE = "Harbour chief: 'Most delayed ships were held by paperwork, not by the weather'"
SECOND = (
    'Customs forms, not storms, caused most of the delays at Port Ellery this year, the head of '
    'the harbour authority of Port Ellery, Captain Mara Linde, told a meeting of shipping agents '
    'on Thursday.\n\n'
    'Of the 212 ships that waited more than two days, she said, 160 were waiting for documents. '
    'The authority will open a second customs desk at the southern gate in May.')
RUN_TOGETHER = f'{FIRST}\n\n{SECOND_HEADLINE}\n\n{SECOND}'

# Articles with subheadings of the usual kinds: short labels, a question, a list lead-in, a long
# descriptive subheading whose section goes on without restating the opening.
SUBHEADED = [
    FIRST + '\n\nWhat comes next\n\n' + (
        'The authority plans to lengthen the quay by forty metres in the autumn, so that two feeder '
        'ships can unload at once, and has asked the ministry to pay for half of the work.'),
    FIRST + '\n\nWhy did the repairs take so long for a quay of this size?\n\n' + (
        'The rails had to be cast abroad, and the first batch failed its load test in June, which '
        'cost the contractor six weeks and the authority a dispute it is still settling.'),
    FIRST + '\n\nThe agents listed three demands for the authority:\n\n' + (
        'Longer opening hours at the gate, one form for all cargo instead of four, and a place to '
        'wait for drivers whose trucks are held back by the inspectors at the southern quay.'),
    FIRST + '\n\nA quieter winter is expected along the whole of the northern coast\n\n' + (
        'Forecasters at the weather office expect fewer gales than last year, which would let '
        'smaller boats keep to their timetables and spare the breakwater another round of damage.'),
    FIRST + '\n\nBackground\n\n' + (
        'The quay was built in the 1970s for bulk grain and was converted for containers twenty '
        'years later; its rails were last replaced when the cranes were bought second hand.'),
]


def test_a_second_article_is_flagged_at_its_headline_and_its_body():
    (found,) = find_embedded_articles(RUN_TOGETHER, CONFIG)
    assert found.headline == SECOND_HEADLINE
    assert RUN_TOGETHER[found.start:found.start + len(SECOND_HEADLINE)] == SECOND_HEADLINE
    assert RUN_TOGETHER[found.body_start:] == SECOND
    assert RUN_TOGETHER[:found.start].rstrip() == FIRST


@pytest.mark.parametrize('text', SUBHEADED, ids=range(len(SUBHEADED)))
def test_subheadings_of_one_article_are_not_flagged(text):
    assert find_embedded_articles(text, CONFIG) == ()


def test_a_headline_without_a_new_lead_that_restates_the_opening_is_a_subheading():
    unrelated = SECOND.replace('the head of the harbour authority of Port Ellery', 'its head')
    assert find_embedded_articles(f'{FIRST}\n\n{SECOND_HEADLINE}\n\n{unrelated}', CONFIG) == ()


def test_a_headline_needs_a_whole_article_before_it():
    one_paragraph = FIRST.split('\n\n')[0]
    assert find_embedded_articles(f'{one_paragraph}\n\n{SECOND_HEADLINE}\n\n{SECOND}', CONFIG) == ()


def test_a_short_headline_is_taken_for_a_subheading():
    short = "Harbour chief blames paperwork"
    assert find_embedded_articles(f'{FIRST}\n\n{short}\n\n{SECOND}', CONFIG) == ()
    assert find_embedded_articles(f'{FIRST}\n\n{short}\n\n{SECOND}',
                                  PartsConfig(min_headline_words=4))[0].headline == short


def test_paragraph_offsets_point_into_the_text():
    text = '  One.\n\n\nTwo words.\n \nThree.'
    assert [(text[o:o + len(p)], p) for o, p in paragraphs(text)] == [
        ('One.', 'One.'), ('Two words.', 'Two words.'), ('Three.', 'Three.')]


def test_the_flag_keeps_every_character_of_the_text():
    doc = Document(id='x', source=SourceRef(kind='text_file', id='x.txt'), text=RUN_TOGETHER)
    (flagged,) = FlagEmbeddedArticlesFn(CONFIG).process(doc)
    assert flagged.text == RUN_TOGETHER
    assert [a.headline for a in flagged.embedded_articles] == [SECOND_HEADLINE]
    assert flagged.to_json_dict()['embedded_articles'] == [
        {'headline': SECOND_HEADLINE, 'start': RUN_TOGETHER.index(SECOND_HEADLINE),
         'body_start': RUN_TOGETHER.index(SECOND)}]
    plain = Document(id='y', source=SourceRef(kind='text_file', id='y.txt'), text=SUBHEADED[0])
    assert list(FlagEmbeddedArticlesFn(CONFIG).process(plain)) == [plain]


def test_of_the_seeds_only_003_holds_a_second_article():
    flagged = {path.name[:3]: find_embedded_articles(path.read_text(encoding='utf-8'), CONFIG)
               for path in sorted(SEEDS.glob('*.txt'))}
    assert {name for name, found in flagged.items() if found} == {'003'}
    text = seed_path('003').read_text(encoding='utf-8')
    (found,) = flagged['003']
    assert found.headline.startswith('Ali Naghiyev: ')
    assert text[found.start:].startswith(found.headline)
    assert text[:found.start].rstrip().endswith('are decisively suppressed.')
