"""The vectorised Glicko-2 (engine.py) against the plain `rating.update`, without a database."""
import numpy as np
import pytest

from services.skills import engine
from services.skills.rating import Match, Rating, Scale, update


def test_vectorised_replay_equals_the_plain_loop():
    rng = np.random.default_rng(1)
    n, groups = 6000, 700
    group = rng.integers(0, groups, n)
    key = rng.permutation(n)
    opp_r, opp_d = rng.normal(1500, 250, n), rng.uniform(30, 350, n)
    score, weight = rng.uniform(0, 1, n), rng.choice([0.3, 0.6, 1.0], n)
    scale = Scale()
    result = engine.replay(group, key, opp_r, opp_d, score, weight, groups, 0.5, scale, times=key.astype(float))
    states, reached = {}, {}
    for i in np.lexsort((key, group)):
        g = int(group[i])
        states[g] = update(states.get(g, Rating()), [Match(Rating(opp_r[i], opp_d[i]), score[i], weight[i])], 0.5)
        if scale.score(states[g].rating) >= scale.intermediate_from:
            reached.setdefault(g, float(key[i]))
    for g, state in states.items():
        assert result["rating"][g] == pytest.approx(state.rating, abs=1e-9)
        assert result["deviation"][g] == pytest.approx(state.deviation, abs=1e-9)
        assert result["volatility"][g] == pytest.approx(state.volatility, abs=1e-12)
        assert result["attempts"][g] == int((group == g).sum())
        assert (result["intermediate_at"][g] if not np.isnan(result["intermediate_at"][g]) else None) == \
            reached.get(g)


def test_glickmans_example_as_one_period():
    """Calibration rates over one period with many matches: Glickman's example."""
    r, d, v = engine.calibrate(np.array([1500.0]), np.array([200.0]), np.array([0.06]), np.array([0, 0, 0]),
                               np.array([1400.0, 1550.0, 1700.0]), np.array([30.0, 100.0, 300.0]),
                               np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]), 0.5)
    # the assessment "wins" 1 - the learner's fraction: a win, then two losses
    assert r[0] == pytest.approx(1464.06, abs=0.01) and d[0] == pytest.approx(151.52, abs=0.01)
    assert v[0] == pytest.approx(0.05999, abs=1e-5)


def test_an_element_without_games_only_widens():
    r, d, v = engine.period(np.array([1600.0]), np.array([50.0]), np.array([0.06]), np.array([0.0]),
                            np.array([0.0]), 0.5)
    assert r[0] == 1600.0 and d[0] == pytest.approx(update(Rating(1600, 50, 0.06), []).deviation)
