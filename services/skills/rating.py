"""Glicko-2 proficiency ratings: plain functions, no database, no broker.

The method is Mark Glickman's Glicko-2 ("Example of the Glicko-2 system",
Boston University, 2013; Glickman, "Dynamic paired comparison models with
stochastic variances", Journal of Applied Statistics 28, 2001). A graded
assessment attempt is a match between the learner and the assessment: the
learner "wins" with the attempt's score fraction (0..1), so a partial score is
a partial win, as in Glicko's treatment of draws. The assessment's difficulty is
rated on the same scale.

One step beyond the paper: a course teaches several skills with a relevance
weight w in (0, 1]. An attempt counts for each skill the course teaches with
its weight: the match's terms in the variance (v) and improvement (delta) sums
are multiplied by w, i.e. a weighted likelihood, so a weight of 1 is exactly
Glickman's update and a weight of 0 leaves the rating unchanged.

Ratings are shown as a 0-500 skill score and a level; the mapping and its
thresholds are below (docs/skills.md explains every parameter)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# Glicko-2 scale conversion (the paper's constant 173.7178 = 400 / ln 10).
SCALE = 400 / math.log(10)
DEFAULT_RATING = 1500.0
DEFAULT_DEVIATION = 350.0
DEFAULT_VOLATILITY = 0.06
# The system constant tau limits how fast volatility changes; Glickman suggests 0.3 to 1.2.
DEFAULT_TAU = 0.5
CONVERGENCE = 1e-6
# A deviation never grows past an unrated player's.
MAX_DEVIATION = DEFAULT_DEVIATION


@dataclass(frozen=True)
class Rating:
    rating: float = DEFAULT_RATING
    deviation: float = DEFAULT_DEVIATION
    volatility: float = DEFAULT_VOLATILITY


@dataclass(frozen=True)
class Match:
    """One game against an opponent rated `opponent`: score in [0, 1], weight in (0, 1]."""

    opponent: Rating
    score: float
    weight: float = 1.0


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _expected(mu: float, mu_j: float, g_j: float) -> float:
    return 1.0 / (1.0 + math.exp(-g_j * (mu - mu_j)))


def _new_volatility(sigma: float, phi: float, v: float, delta: float, tau: float) -> float:
    """Step 5 of the paper: the Illinois algorithm on f(x) = 0."""
    a = math.log(sigma * sigma)

    def f(x: float) -> float:
        ex = math.exp(x)
        return (ex * (delta * delta - phi * phi - v - ex)) / (2.0 * (phi * phi + v + ex) ** 2) - (x - a) / (tau * tau)

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > CONVERGENCE:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def update(player: Rating, matches: Iterable[Match], tau: float = DEFAULT_TAU) -> Rating:
    """The player's rating after one rating period with these matches (Glickman's steps 2-8)."""
    mu = (player.rating - DEFAULT_RATING) / SCALE
    phi = player.deviation / SCALE
    sigma = player.volatility
    inverse_v = 0.0
    improvement = 0.0
    for match in matches:
        if not 0.0 <= match.score <= 1.0:
            raise ValueError(f"a score is a fraction in [0, 1], got {match.score}")
        if not 0.0 < match.weight <= 1.0:
            raise ValueError(f"a weight is in (0, 1], got {match.weight}")
        mu_j = (match.opponent.rating - DEFAULT_RATING) / SCALE
        g_j = _g(match.opponent.deviation / SCALE)
        e_j = _expected(mu, mu_j, g_j)
        inverse_v += match.weight * g_j * g_j * e_j * (1.0 - e_j)
        improvement += match.weight * g_j * (match.score - e_j)
    if inverse_v == 0.0:
        # Step 6 only: a period without games widens the deviation.
        phi_star = math.sqrt(phi * phi + sigma * sigma)
        return Rating(player.rating, min(phi_star * SCALE, MAX_DEVIATION), sigma)
    v = 1.0 / inverse_v
    delta = v * improvement
    new_sigma = _new_volatility(sigma, phi, v, delta, tau)
    phi_star = math.sqrt(phi * phi + new_sigma * new_sigma)
    new_phi = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
    new_mu = mu + new_phi * new_phi * improvement
    return Rating(new_mu * SCALE + DEFAULT_RATING, min(new_phi * SCALE, MAX_DEVIATION), new_sigma)


def replay(attempts: Iterable[tuple[Rating, float, float]], start: Rating | None = None,
           tau: float = DEFAULT_TAU) -> Rating:
    """A learner's rating in one skill from their attempts in timestamp order: each attempt is
    (assessment difficulty snapshot, score fraction, relevance weight), one rating period each."""
    rating = start or Rating()
    for difficulty, score, weight in attempts:
        rating = update(rating, [Match(difficulty, score, weight)], tau)
    return rating


# ---------------------------------------------------------------- score and level


class Level(StrEnum):
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    ADVANCED = "ADVANCED"


@dataclass(frozen=True)
class Scale:
    """Rating -> 0..500 skill score: a logistic curve centred on the default rating
    (a new learner scores 250) with `spread` rating points per factor 10 of odds,
    the same shape as Elo's expected score. Levels are score thresholds."""

    spread: float = 400.0
    intermediate_from: float = 200.0
    advanced_from: float = 350.0

    def score(self, rating: float) -> float:
        return 500.0 / (1.0 + 10.0 ** (-(rating - DEFAULT_RATING) / self.spread))

    def level(self, score: float) -> Level:
        if score >= self.advanced_from:
            return Level.ADVANCED
        if score >= self.intermediate_from:
            return Level.INTERMEDIATE
        return Level.BEGINNER


# ---------------------------------------------------------------- benchmark


class Quartile(StrEnum):
    LAGGING = "LAGGING"
    EMERGING = "EMERGING"
    COMPETITIVE = "COMPETITIVE"
    CUTTING_EDGE = "CUTTING_EDGE"


def percentile_rank(value: float, peers: list[float]) -> float:
    """The share of peers scoring below `value` (ties count half), as 0..100."""
    if not peers:
        raise ValueError("no peers")
    below = sum(1 for p in peers if p < value)
    equal = sum(1 for p in peers if p == value)
    return 100.0 * (below + 0.5 * equal) / len(peers)


def quartile(rank: float) -> Quartile:
    """0-25 lagging, 26-50 emerging, 51-75 competitive, 76-100 cutting-edge."""
    if rank <= 25:
        return Quartile.LAGGING
    if rank <= 50:
        return Quartile.EMERGING
    if rank <= 75:
        return Quartile.COMPETITIVE
    return Quartile.CUTTING_EDGE
