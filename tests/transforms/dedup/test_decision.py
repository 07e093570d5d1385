"""Best matches and story roots."""

from newswire.transforms.dedup import NEAR_COPY, SAME_STORY, BestMatchesFn, Match, story_root


def test_best_matches_prefer_earliest_copy_and_most_similar_story():
    combine = BestMatchesFn()
    matches = [Match('d', 'b', (False, 2.0, 'b'), NEAR_COPY, 0.9),
               Match('d', 'a', (False, 1.0, 'a'), NEAR_COPY, 0.6),
               Match('d', 'a', (False, 1.0, 'a'), SAME_STORY, 0.4),
               Match('d', 'c', (False, 3.0, 'c'), SAME_STORY, 0.7)]
    left, right = combine.create_accumulator(), combine.create_accumulator()
    for match in matches[:2]:
        left = combine.add_input(left, match)
    for match in matches[2:]:
        right = combine.add_input(right, match)
    best = combine.extract_output(combine.merge_accumulators([right, left]))
    assert best.near_copy.earlier == 'a' and best.same_story.earlier == 'c'
    assert best.parent() is best.near_copy


def test_story_root_follows_the_chain():
    parents = {'c': 'b', 'b': 'a', 'e': 'd'}
    assert [story_root(x, parents) for x in 'abcde'] == ['a', 'a', 'a', 'd', 'd']


def test_best_matches_do_not_depend_on_the_order_matches_come_in():
    import itertools

    from newswire.transforms.dedup import EXACT
    # One later id twice, with two texts (a feed entry polled again after an edit): both copy the
    # same original, one more closely; and a tie on score between two stories.
    matches = [Match('d', 'a', (False, 1.0, 'a'), NEAR_COPY, 0.75),
               Match('d', 'a', (False, 1.0, 'a'), NEAR_COPY, 0.88),
               Match('d', 'b', (False, 2.0, 'b'), NEAR_COPY, 0.95),
               Match('d', 'a', (False, 1.0, 'a'), EXACT, 1.0),
               Match('d', 'c', (False, 3.0, 'c'), SAME_STORY, 0.5),
               Match('d', 'b', (False, 2.0, 'b'), SAME_STORY, 0.5)]
    combine = BestMatchesFn()
    outcomes = set()
    for order in itertools.permutations(matches):
        best = combine.create_accumulator()
        for match in order:
            best = combine.add_input(best, match)
        outcomes.add(best)
    assert len(outcomes) == 1
    (best,) = outcomes
    assert best.near_copy.score == 0.88 and best.same_story.earlier == 'b'
