"""The assigner's SQL, kept apart from its control flow (see :mod:`offer_engine.assigner`).

Every statement takes the due users as one ``bigint[]`` parameter, so a batch of users
costs the same number of round trips as one user.
"""

from __future__ import annotations

from sqlalchemy import text

TARGETS = (
    "SELECT u.id FROM users u JOIN agents a ON a.user_id = u.id"
    " WHERE a.status = 'active' AND a.is_simulated AND u.is_simulated"
)

# Every per-wallet read walks the listed users one by one through the index of active
# coupons by user (uq_user_coupons_active_user_coupon, a LATERAL per user) instead of
# leaving the plan to the statistics: after a cycle the table has changed by hundreds of
# thousands of rows that autovacuum has not analyzed yet, and the planner then read a whole
# index of active coupons (dead entries of the rows just replaced included) once per
# batch — time grew from cycle to cycle.
_USERS = "(SELECT DISTINCT unnest(CAST(:ids AS bigint[]))) d(user_id)"

REPLACE_OLDEST = text(
    f"""
    WITH r AS (
        SELECT x.id
        FROM {_USERS}
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM user_coupons
            WHERE user_id = d.user_id AND status = 'active'
        ) n
        CROSS JOIN LATERAL (
            SELECT uc.id FROM user_coupons uc
            WHERE uc.user_id = d.user_id AND uc.status = 'active' AND uc.is_simulation
            ORDER BY uc.assigned_sim_at NULLS FIRST, uc.id
            LIMIT GREATEST(n.n + :quota - :cap, 0)
        ) x
    )
    UPDATE user_coupons uc
    SET status = 'expired', removed_reason = 'replaced', removed_sim_at = :now
    FROM r
    WHERE uc.id = r.id AND uc.status = 'active'
    """
)

# jsonb list → lower-cased text[]; anything but an array counts as "no preference".
_PREF_LIST = (
    "ARRAY(SELECT lower(x) FROM jsonb_array_elements_text(CASE WHEN"
    " jsonb_typeof(a.persona->'{k}') = 'array' THEN a.persona->'{k}' ELSE '[]'::jsonb END) x)"
)
_PREF_UNIT = (
    "CASE WHEN jsonb_typeof(a.persona->'{k}') = 'number'"
    " THEN LEAST(GREATEST((a.persona->>'{k}')::float8, 0), 1) ELSE 0.5 END"
)

_KEY = (
    # Efraimidis–Spirakis key ln(u)/w; u in (0, 1) from a 64-bit hash of (user seed, coupon)
    "ln((CAST(hashint8extended(c.id, p.useed) AS float8) + 9223372036854775808.5)"
    " / 18446744073709551616.0) / ({weight})"
)
_W_FRONT = "1 + p.dsens * c.disc"
_W_CATBRAND = (
    "(1 + 4 * coalesce(c.category = ANY(p.cats), false)::int"
    " + 15 * p.loyalty * coalesce(c.brand = ANY(p.brands), false)::int) * (1 + p.dsens * c.disc)"
)

INSERT_PICKS = text(
    f"""
    WITH held AS MATERIALIZED (
        SELECT d.user_id, h.coupons, h.n
        FROM {_USERS}
        CROSS JOIN LATERAL (
            SELECT array_agg(coupon_id) AS coupons, count(*) AS n FROM user_coupons
            WHERE user_id = d.user_id AND status = 'active'
        ) h
        WHERE h.n > 0
    ),
    -- The rows the foreign keys of user_coupons point at, locked as the key checks lock them
    -- (KEY SHARE: none can be deleted or re-keyed before this transaction ends). With the
    -- per-row key triggers off for this statement (see the assigner) these locks and the
    -- joins below are the checks, once per statement instead of three per inserted row.
    owners AS MATERIALIZED (
        SELECT id FROM users WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR KEY SHARE
    ),
    cyc AS MATERIALIZED (SELECT id FROM offer_cycles WHERE id = :cycle_id FOR KEY SHARE),
    prefs AS MATERIALIZED (
        SELECT a.user_id,
               :cap - coalesce(h.n, 0) AS room,
               coalesce(h.coupons, '{{}}') AS held,
               {_PREF_LIST.format(k="preferred_categories")} AS cats,
               {_PREF_LIST.format(k="preferred_brands")} AS brands,
               {_PREF_UNIT.format(k="brand_loyalty")} AS loyalty,
               {_PREF_UNIT.format(k="discount_sensitivity")} AS dsens,
               -- one md5 per user: the picks depend on (run, cycle, user) only
               ('x' || substr(md5(CAST(:seed AS text) || a.user_id), 1, 16))::bit(64)::bigint
                   AS useed
        FROM agents a LEFT JOIN held h ON h.user_id = a.user_id
        WHERE a.user_id = ANY(CAST(:ids AS bigint[]))
          AND a.user_id IN (SELECT id FROM owners)
    ),
    cat AS MATERIALIZED (
        SELECT id, kind = 'frontstore' AS front, lower(category) AS category,
               lower(brand) AS brand,
               CASE discount_type WHEN 'percent' THEN discount_value / 100.0
                    ELSE LEAST(discount_value / 1000.0, 1.0) END::float8 AS disc
        FROM coupons WHERE is_active ORDER BY id FOR KEY SHARE
    ),
    picks AS (
        SELECT p.user_id, p.room, s.coupon_id, s.front, s.key
        FROM prefs p CROSS JOIN LATERAL (
            (SELECT c.id AS coupon_id, true AS front, {_KEY.format(weight=_W_FRONT)} AS key
             FROM cat c WHERE c.front AND c.id <> ALL(p.held)
             ORDER BY key DESC, c.id LIMIT :nf)
            UNION ALL
            (SELECT c.id, false, {_KEY.format(weight=_W_CATBRAND)}
             FROM cat c WHERE NOT c.front AND c.id <> ALL(p.held)
             ORDER BY 3 DESC, 1 LIMIT :nc)
        ) s
        WHERE p.room > 0
    ),
    ranked AS (
        -- frontstore first when room is short: they apply to any basket
        SELECT user_id, room, coupon_id, front,
               row_number() OVER (PARTITION BY user_id ORDER BY front DESC, key DESC, coupon_id)
                   AS pos
        FROM picks
    ),
    ins AS (
        INSERT INTO user_coupons (user_id, coupon_id, status, offer_cycle_id, is_simulation,
                                  assigned_sim_at, expires_sim_at, discount_value)
        SELECT r.user_id, r.coupon_id, 'active', :cycle_id, true, :now, :expires,
               -- an experiment arm's discount_multiplier: this copy's own value (else NULL)
               CASE WHEN CAST(:mult AS float8) = 1 THEN NULL
                    WHEN k.discount_type = 'percent'
                        THEN LEAST(100, GREATEST(1, round(k.discount_value * CAST(:mult AS float8))))
                    ELSE GREATEST(1, round(k.discount_value * CAST(:mult AS float8))) END::int
        FROM ranked r JOIN coupons k ON k.id = r.coupon_id
        WHERE r.pos <= r.room AND EXISTS (SELECT FROM cyc)
        -- ids in a defined order (user, then pick), not the plan's: replace_oldest breaks
        -- ties between one cycle's rows by id
        ORDER BY r.user_id, r.pos
        RETURNING user_id, coupon_id
    ),
    per AS (
        SELECT ins.user_id, count(*) AS n, count(*) FILTER (WHERE cat.front) AS nf
        FROM ins JOIN cat ON cat.id = ins.coupon_id GROUP BY ins.user_id
    )
    SELECT coalesce(sum(n), 0) AS assigned, coalesce(sum(nf), 0) AS frontstore,
           count(*) AS users_assigned,
           count(*) FILTER (WHERE n >= :per_cycle) AS users_full
    FROM per
    """
)

# Only wallets this assignment added to: an assigner must not fail a whole cycle because
# something else overfilled a wallet it then left alone.
GUARD = text(
    f"""
    SELECT d.user_id, g.n
    FROM {_USERS}
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, bool_or(offer_cycle_id = :cycle_id AND assigned_sim_at = :now) AS mine
        FROM user_coupons WHERE user_id = d.user_id AND status = 'active'
    ) g
    WHERE g.n > :cap AND g.mine
    ORDER BY d.user_id LIMIT 5
    """
)

ENSURE_OWNER_ROWS = text(
    "INSERT INTO user_offer_cycles (user_id, is_simulation)"
    " SELECT unnest(CAST(:ids AS bigint[])), true ON CONFLICT (user_id) DO NOTHING"
)

# ORDER BY under FOR UPDATE locks in id order, so assigners over overlapping users queue.
LOCK_OWNER_ROWS = text(
    "SELECT user_id FROM user_offer_cycles WHERE user_id = ANY(CAST(:ids AS bigint[])) ORDER BY user_id FOR UPDATE"
)

# Due = never assigned, assigned by another run's (or the server's) cycle, or by an earlier
# cycle of this run.
DUE = (
    "SELECT t.id FROM ({targets}) t(id)"
    " LEFT JOIN user_offer_cycles uoc ON uoc.user_id = t.id"
    " LEFT JOIN offer_cycles cur ON cur.id = uoc.current_cycle_id"
    " WHERE cur.id IS NULL OR cur.run_id IS DISTINCT FROM :run_id OR cur.cycle_number < :n"
    " ORDER BY t.id"
)

CATALOG_KINDS = text("SELECT kind, count(*) FROM coupons WHERE is_active GROUP BY kind")

MARK_ASSIGNED = text(
    "UPDATE user_offer_cycles SET current_cycle_id = :cid, last_refresh_at = :now,"
    " next_refresh_at = :next, is_simulation = true WHERE user_id = ANY(CAST(:ids AS bigint[]))"
)

LOCK_CYCLE = text("SELECT stats FROM offer_cycles WHERE id = :id FOR NO KEY UPDATE")

# The per-row foreign-key triggers of user_coupons may be skipped for the insert (the
# statement checks and locks the referenced rows itself) only where that changes nothing
# else: the role may set session_replication_role, it is 'origin' now, and user_coupons has
# no trigger of its own (an owner's audit trigger must still fire).
BATCHED_KEY_CHECKS = text(
    "SELECT current_setting('session_replication_role') = 'origin'"
    " AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    "      OR (current_setting('server_version_num')::int >= 150000"
    "          AND has_parameter_privilege('session_replication_role', 'SET')))"
    " AND NOT EXISTS (SELECT FROM pg_trigger"
    "                 WHERE tgrelid = 'user_coupons'::regclass AND NOT tgisinternal)"
)
