"""Glicko-2 over arrays (numpy): the same update as `rating.update`, for many
players at once. The full recompute replays every learner-skill's attempts in
timestamp order as a sequence of vectorised steps (step k applies the k-th
attempt of every learner-skill that has one), and a calibration rates every
assessment over one rating period with all its matches. Per element the
arithmetic is `rating.update`'s, including the Illinois iteration of the
volatility (elements that have converged stop), so results agree with the
plain loop to floating-point rounding (tests/test_engine.py)."""
from __future__ import annotations

import numpy as np

from services.skills.rating import CONVERGENCE, DEFAULT_RATING, MAX_DEVIATION, SCALE, Scale


def g(phi: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(1.0 + 3.0 * phi * phi / (np.pi * np.pi))


def _volatility(sigma, phi, v, delta, tau):
    a = np.log(sigma * sigma)
    phi2 = phi * phi

    def f(x):
        ex = np.exp(x)
        return (ex * (delta * delta - phi2 - v - ex)) / (2.0 * (phi2 + v + ex) ** 2) - (x - a) / (tau * tau)

    big_a = a.copy()
    wide = delta * delta > phi2 + v
    big_b = np.where(wide, np.log(np.where(wide, delta * delta - phi2 - v, 1.0)), a - tau)
    todo = ~wide
    k = np.ones_like(a)
    while todo.any():  # B = a - k*tau for the smallest k >= 1 with f(B) >= 0, as the paper
        idx = np.nonzero(todo)[0]
        negative = _f_at(f, big_b, idx, a, delta, phi2, v, tau) < 0
        more = idx[negative]
        k[more] += 1
        big_b[more] = a[more] - k[more] * tau
        todo[idx[~negative]] = False
    f_a, f_b = f(big_a), f(big_b)
    active = np.abs(big_b - big_a) > CONVERGENCE
    while active.any():
        i = np.nonzero(active)[0]
        A, B, fA, fB = big_a[i], big_b[i], f_a[i], f_b[i]
        C = A + (A - B) * fA / (fB - fA)
        fC = _f_at(f, C, None, a[i], delta[i], phi2[i], v[i], tau)
        swap = fC * fB <= 0
        A = np.where(swap, B, A)
        fA = np.where(swap, fB, fA / 2.0)
        big_a[i], f_a[i], big_b[i], f_b[i] = A, fA, C, fC
        active[i] = np.abs(C - A) > CONVERGENCE
    return np.exp(big_a / 2.0)


def _f_at(f, x, idx, a, delta, phi2, v, tau):
    """f for a subset: x already restricted (idx None) or restricted here."""
    if idx is not None:
        x, a, delta, phi2, v = x[idx], a[idx], delta[idx], phi2[idx], v[idx]
    ex = np.exp(x)
    return (ex * (delta * delta - phi2 - v - ex)) / (2.0 * (phi2 + v + ex) ** 2) - (x - a) / (tau * tau)


def period(rating, deviation, volatility, inverse_v, improvement, tau):
    """One rating period for every element, given the sums over its matches
    (sum of w g^2 E (1 - E) and of w g (s - E)); an element without games
    only widens its deviation. Returns (rating, deviation, volatility)."""
    mu = (rating - DEFAULT_RATING) / SCALE
    phi = deviation / SCALE
    sigma = volatility.astype(float, copy=True)
    played = inverse_v > 0
    new_mu, new_phi, new_sigma = mu.copy(), np.sqrt(phi * phi + sigma * sigma), sigma.copy()
    if played.any():
        p = np.nonzero(played)[0]
        v = 1.0 / inverse_v[p]
        delta = v * improvement[p]
        s = _volatility(sigma[p], phi[p], v, delta, tau)
        phi_star = np.sqrt(phi[p] ** 2 + s * s)
        phi_new = 1.0 / np.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
        new_mu[p] = mu[p] + phi_new * phi_new * improvement[p]
        new_phi[p] = phi_new
        new_sigma[p] = s
    return new_mu * SCALE + DEFAULT_RATING, np.minimum(new_phi * SCALE, MAX_DEVIATION), new_sigma


def match_terms(rating, deviation, opponent_rating, opponent_deviation, score, weight):
    """Each match's (w g^2 E (1-E), w g (s - E)) for the player rated `rating`."""
    mu = (rating - DEFAULT_RATING) / SCALE
    mu_j = (opponent_rating - DEFAULT_RATING) / SCALE
    g_j = g(opponent_deviation / SCALE)
    e = 1.0 / (1.0 + np.exp(-g_j * (mu - mu_j)))
    return weight * g_j * g_j * e * (1.0 - e), weight * g_j * (score - e)


def replay(group, order_key, opp_rating, opp_deviation, score, weight, n_groups, tau, scale: Scale,
           times=None):
    """Replay every group's matches (one rating period each) in `order_key`
    order within the group, starting from an unrated player.

    Returns a dict of arrays per group: rating, deviation, volatility, score,
    attempts, and, when `times` (one per match) is given, the time of the
    match after which the score first reached the intermediate and the
    advanced threshold (NaN if never), and the last match's time and index."""
    order = np.lexsort((order_key, group))
    group, opp_rating, opp_deviation = group[order], opp_rating[order], opp_deviation[order]
    score, weight = score[order], weight[order]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    position = np.arange(len(group)) - starts[group]
    r = np.full(n_groups, DEFAULT_RATING)
    rd = np.full(n_groups, 350.0)
    vol = np.full(n_groups, 0.06)
    inter_at = np.full(n_groups, np.nan)
    adv_at = np.full(n_groups, np.nan)
    t = times[order] if times is not None else None
    by_step = np.argsort(position, kind="stable")
    steps = int(counts.max()) if len(group) else 0
    bounds = np.searchsorted(position[by_step], np.arange(steps + 1))
    for k in range(steps):
        rows = by_step[bounds[k]:bounds[k + 1]]
        who = group[rows]
        inv_v, impr = match_terms(r[who], rd[who], opp_rating[rows], opp_deviation[rows], score[rows], weight[rows])
        r[who], rd[who], vol[who] = period(r[who], rd[who], vol[who], inv_v, impr, tau)
        if t is not None:
            now = 500.0 / (1.0 + 10.0 ** (-(r[who] - DEFAULT_RATING) / scale.spread))
            reach_i = np.isnan(inter_at[who]) & (now >= scale.intermediate_from)
            inter_at[who[reach_i]] = t[rows[reach_i]]
            reach_a = np.isnan(adv_at[who]) & (now >= scale.advanced_from)
            adv_at[who[reach_a]] = t[rows[reach_a]]
    scores = 500.0 / (1.0 + 10.0 ** (-(r - DEFAULT_RATING) / scale.spread))
    result = {"rating": r, "deviation": rd, "volatility": vol, "score": scores, "attempts": counts,
              "intermediate_at": inter_at, "advanced_at": adv_at}
    if len(group):
        last_rows = starts + counts - 1
        has = counts > 0
        result["last_row"] = np.where(has, order[np.clip(last_rows, 0, None)], -1)
    return result


def calibrate(ratings, deviations, volatilities, match_item, learner_rating, learner_deviation, learner_fraction,
              weight, tau):
    """One rating period for every assessment: each match is a learner's attempt
    (the assessment "wins" 1 - the learner's score fraction) weighted by relevance."""
    n = len(ratings)
    inv_v_terms, impr_terms = match_terms(ratings[match_item], deviations[match_item], learner_rating,
                                          learner_deviation, 1.0 - learner_fraction, weight)
    inverse_v = np.bincount(match_item, weights=inv_v_terms, minlength=n)
    improvement = np.bincount(match_item, weights=impr_terms, minlength=n)
    return period(ratings, deviations, volatilities, inverse_v, improvement, tau)
