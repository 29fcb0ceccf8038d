"""One decider at a time, on a real PostgreSQL: advisory-lock election and the fencing epoch."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from monitor.store.db import begin_write, make_engine
from monitor.store.leadership import Fenced, Leadership, fence


@pytest.fixture
def pg(postgres_url):
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def test_one_instance_leads_and_a_standby_takes_over_with_a_higher_epoch_when_it_stops(pg):
    first, standby = Leadership(pg, "decide", "host-a:1"), Leadership(pg, "decide", "host-b:2")
    assert first.try_acquire() == 1
    assert standby.try_acquire() is None and not standby.leading
    first.release()  # SIGTERM hands over at once
    assert standby.try_acquire() == 2
    with pg.connect() as conn:
        assert conn.execute(text("SELECT epoch, holder FROM leadership WHERE name = 'decide'")).one() == (2, "host-b:2")
    standby.release()


def test_a_killed_leader_s_lock_goes_with_its_connection(pg):
    first, standby = Leadership(pg, "decide", "a"), Leadership(pg, "decide", "b")
    first.try_acquire()
    # SIGKILL: the process never unlocks; its session ends when the connection does.
    with pg.connect() as admin:
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
        admin.commit()
    assert standby.try_acquire() == 2
    assert first.alive() is False and not first.leading
    standby.release()


def test_a_paused_old_leader_cannot_write_a_decision_after_a_takeover(pg):
    old, new = Leadership(pg, "decide", "old"), Leadership(pg, "decide", "new")
    epoch = old.try_acquire()
    with begin_write(pg) as conn:
        fence(conn, "decide", epoch)  # while it leads, its decisions go through
    old.release()
    new.try_acquire()
    with pytest.raises(Fenced, match=r"moved to epoch 2; this instance \(epoch 1\) must not decide"):
        with begin_write(pg) as conn:
            fence(conn, "decide", epoch)
            conn.execute(text("INSERT INTO channel_states (channel, state, since, cause) VALUES ('x', 'down', 1, '{}')"))
    with pg.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM channel_states")).scalar() == 0  # nothing of it was written
    new.release()


def test_leadership_is_refused_on_sqlite_with_the_fix(sqlite_engine):
    with pytest.raises(ValueError, match=r"electing a decide leader needs PostgreSQL \(database_url\), not sqlite"):
        Leadership(sqlite_engine, "decide", "me")
