"""The rating model without a database: Glickman's published example, the
weighting rule, the score scale, and a simulation of learners of known ability."""
import math
import random

import pytest

from services.skills.rating import (
    Level,
    Match,
    Quartile,
    Rating,
    Scale,
    percentile_rank,
    quartile,
    replay,
    update,
)


def test_glickmans_published_example():
    """Glickman (2013), section 'Example': 1500/200/0.06 plays 1400/30 (win),
    1550/100 (loss), 1700/300 (loss) with tau 0.5 -> 1464.06 / 151.52 / 0.05999."""
    player = Rating(1500, 200, 0.06)
    after = update(player, [Match(Rating(1400, 30), 1), Match(Rating(1550, 100), 0), Match(Rating(1700, 300), 0)],
                   tau=0.5)
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=1e-5)


def test_a_period_without_games_only_widens_the_deviation():
    after = update(Rating(1600, 50, 0.06), [])
    assert after.rating == 1600
    assert after.deviation == pytest.approx(math.sqrt(50**2 + (0.06 * 400 / math.log(10)) ** 2))


def test_weight_one_is_glicko_and_a_smaller_weight_moves_less():
    learner, assessment = Rating(1500, 200), Rating(1500, 80)
    full = update(learner, [Match(assessment, 1.0)])
    half = update(learner, [Match(assessment, 1.0, weight=0.5)])
    assert full.rating > half.rating > learner.rating
    assert full.deviation < half.deviation < learner.deviation


@pytest.mark.parametrize("score, weight", [(-0.1, 1), (1.1, 1), (0.5, 0), (0.5, 1.5)])
def test_scores_and_weights_out_of_range_are_refused(score, weight):
    with pytest.raises(ValueError):
        update(Rating(), [Match(Rating(), score, weight)])


def test_scale_centres_on_a_new_learner_and_levels_follow_thresholds():
    scale = Scale()
    assert scale.score(1500) == pytest.approx(250)
    assert 0 < scale.score(200) < scale.score(1500) < scale.score(2800) < 500
    assert scale.level(199.9) is Level.BEGINNER
    assert scale.level(200) is Level.INTERMEDIATE
    assert scale.level(350) is Level.ADVANCED


def test_quartiles_and_percentile_rank():
    peers = [100, 200, 300, 400]
    assert percentile_rank(50, peers) == 0
    assert percentile_rank(250, peers) == 50
    assert percentile_rank(400, peers) == 87.5
    assert [quartile(r) for r in (0, 25, 26, 50, 51, 75, 76, 100)] == [
        Quartile.LAGGING, Quartile.LAGGING, Quartile.EMERGING, Quartile.EMERGING,
        Quartile.COMPETITIVE, Quartile.COMPETITIVE, Quartile.CUTTING_EDGE, Quartile.CUTTING_EDGE]


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        for rank, index in enumerate(order):
            result[index] = rank
        return result

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    return 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True)) / (n * (n * n - 1))


def test_simulated_learners_are_ranked_by_true_ability():
    """200 learners of known ability answer 20 assessments each (random order, a noisy
    pass or fail drawn from the logistic model) against assessments of known
    difficulty: the learned ratings rank learners as their true abilities do
    (Spearman 0.94-0.96 over four seeds; the bar is 0.8)."""
    rng = random.Random(20261201)
    abilities = [rng.gauss(1500, 300) for _ in range(200)]
    difficulties = [rng.gauss(1500, 250) for _ in range(60)]
    ratings = []
    for ability in abilities:
        attempts = []
        for difficulty in rng.sample(difficulties, 20):
            p_success = 1 / (1 + 10 ** (-(ability - difficulty) / 400))
            score = 1.0 if rng.random() < p_success else 0.0
            attempts.append((Rating(difficulty, 60), score, 1.0))
        ratings.append(replay(attempts).rating)
    correlation = spearman(abilities, ratings)
    assert correlation >= 0.8, correlation

    scale = Scale()
    strongest = max(range(200), key=abilities.__getitem__)
    weakest = min(range(200), key=abilities.__getitem__)
    assert scale.level(scale.score(ratings[strongest])) is not Level.BEGINNER
    assert scale.level(scale.score(ratings[weakest])) is Level.BEGINNER


def test_levels_move_up_with_successes_and_down_with_failures():
    scale = Scale()
    assessment = Rating(1700, 60)
    rising = replay([(assessment, 1.0, 1.0)] * 15)
    falling = replay([(assessment, 0.0, 1.0)] * 15)
    assert scale.level(scale.score(rising.rating)) is Level.ADVANCED
    assert scale.level(scale.score(falling.rating)) is Level.BEGINNER
