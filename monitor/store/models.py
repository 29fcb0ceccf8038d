"""Every table, as SQLModel classes. Times are Unix epoch seconds (float) for cheap range scans."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, false
from sqlmodel import Field, SQLModel

# Ids of tables that grow with every result or event: 64-bit on PostgreSQL (2,000 checks a second
# would reach the 32-bit limit in 12 days); on SQLite, INTEGER PRIMARY KEY is the 64-bit rowid
# already, and a BIGINT column there would not be the rowid (no automatic ids).
ID = BigInteger().with_variant(Integer(), "sqlite")


class ProbeResultRow(SQLModel, table=True):
    """One probe run: written in batches by the result writer."""

    __tablename__ = "probe_results"
    __table_args__ = (Index("ix_probe_results_channel_at", "channel", "at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    at: float
    channel: str = Field(max_length=64)
    check: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    ok: bool
    error_class: str | None = Field(default=None, max_length=32)
    error: str | None = None
    duration_seconds: float
    facts: str = "{}"  # JSON object
    severity: str | None = Field(default=None, max_length=16)  # of a failure: down, degraded or stale
    # The channel's state right after this result was counted: uptime is the share of these that
    # were up or degraded, maintenance excluded.
    channel_state: str = Field(default="unknown", max_length=16)
    location: str = Field(
        default="local", max_length=64, sa_column_kwargs={"server_default": "local"}
    )  # where the probe ran (config `location`)


class ChannelStateRow(SQLModel, table=True):
    """The announced state of each channel, so a restart resumes where it stopped."""

    __tablename__ = "channel_states"

    channel: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)
    since: float
    cause: str = "{}"  # JSON object


class TransitionRow(SQLModel, table=True):
    """A channel's state change with its cause; later issues drain these as an outbox."""

    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_channel_at", "channel", "at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    at: float
    channel: str = Field(max_length=64)
    old_state: str = Field(max_length=16)
    new_state: str = Field(max_length=16)
    cause: str = "{}"


class IncidentRow(SQLModel, table=True):
    """A period a channel was down: opened on down, closed on recovery."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_channel_open", "channel", "ended_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    channel: str = Field(max_length=64)
    started_at: float
    ended_at: float | None = None
    cause: str = "{}"


class CheckProgressRow(SQLModel, table=True):
    """Each check's threshold progress, so a restart (even after SIGKILL) resumes mid-count."""

    __tablename__ = "check_progress"

    channel: str = Field(primary_key=True, max_length=64)
    check: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)
    fails: int = 0
    warns: int = 0
    oks: int = 0
    nondown: int = 0
    updated_at: float


class OverrideRow(SQLModel, table=True):
    """A manual override from the admin API: who forced which state, why, until when."""

    __tablename__ = "overrides"

    channel: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)
    by: str = Field(max_length=100)
    reason: str = Field(max_length=500)
    until: float | None = None
    created_at: float


class MaintenanceRow(SQLModel, table=True):
    """A one-off maintenance window added through the admin API (config windows live in the config)."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_channel_end", "channel", "end"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    channel: str = Field(max_length=64)
    start: float
    end: float
    reason: str = Field(max_length=500)
    by: str = Field(max_length=100)
    created_at: float


class RollupRow(SQLModel, table=True):
    """One check's results in one UTC hour or day, counted by the channel state each result left.

    The row with check "" (no check has that id) sums all of the channel's checks, so uptime reads
    one row per channel and bucket however many checks it has; its latency columns stay empty.
    Written only by monitor.store.rollups, as upserts on the primary key: a bucket's row is a pure
    function of the raw results in it, so a re-run writes the same numbers. Counts are BIGINT: even
    a check every second gives at most 86,400 a day, and sums over years stay far from the limit.
    The latency columns describe the durations of the *successful* results only (a failure's
    duration is how long it took to fail, e.g. the timeout); they are NULL when there were none.
    """

    __tablename__ = "rollups"
    # Clustered by the primary key on SQLite: a channel's days or hours of a check are one range, read
    # in channel order, so summing them per channel needs no sort.
    __table_args__ = {"sqlite_with_rowid": False}

    period: str = Field(primary_key=True, max_length=8)  # "hour" or "day"
    channel: str = Field(primary_key=True, max_length=64)
    check: str = Field(primary_key=True, max_length=64)  # "" for the channel's total
    bucket_start: int = Field(primary_key=True, sa_type=BigInteger)  # epoch seconds, a multiple of 3600 / 86400
    n_up: int = Field(default=0, sa_type=BigInteger)
    n_degraded: int = Field(default=0, sa_type=BigInteger)
    n_down: int = Field(default=0, sa_type=BigInteger)
    n_maintenance: int = Field(default=0, sa_type=BigInteger)
    n_unknown: int = Field(default=0, sa_type=BigInteger)  # unknown, or any other state
    latency_count: int = Field(default=0, sa_type=BigInteger)  # successful results
    # Whole microseconds, so the sum is exact in any order: a re-run on any database gives the same
    # number. Average latency in seconds = latency_sum_us / latency_count / 1e6.
    latency_sum_us: int = Field(default=0, sa_type=BigInteger)
    latency_min: float | None = None
    latency_max: float | None = None
    # Nearest-rank 95th percentile. Hourly: exact. Daily: the largest of the day's hourly p95s, an
    # upper bound of the day's true p95 (each hour has at least 95% of its results at or below it).
    latency_p95: float | None = None


class RollupMarkRow(SQLModel, table=True):
    """Progress of rollups and retention (see monitor/store/rollups.py for each name)."""

    __tablename__ = "rollup_marks"

    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_type=BigInteger)


class FailoverGateRow(SQLModel, table=True):
    """Whether a channel is failed over (monitor/failover/gate.py), so a restart resumes it."""

    __tablename__ = "failover_gates"

    channel: str = Field(primary_key=True, max_length=64)
    failed: bool = False
    changed_at: float


class FailoverTargetRow(SQLModel, table=True):
    """What the service last planned, and last saw applied, for one promotion or notice on one channel.

    owner_kind "promotion": planned is the amount (0 = paused). owner_kind "notice": 1 = posted.
    The reconciler compares a new plan with `planned`; the relay sets `applied` when a receiver
    acknowledges. Rows are created with the normal allocation when a promotion is first seen.
    """

    __tablename__ = "failover_targets"

    owner_kind: str = Field(primary_key=True, max_length=16)
    owner: str = Field(primary_key=True, max_length=64)
    channel: str = Field(primary_key=True, max_length=64)
    planned: int = Field(sa_type=BigInteger)
    applied: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: float


class FailoverOwnerRow(SQLModel, table=True):
    """A promotion's or notice's failover status: frozen (too many moves, a conflict, by hand) or held."""

    __tablename__ = "failover_owners"

    owner_kind: str = Field(primary_key=True, max_length=16)
    owner: str = Field(primary_key=True, max_length=64)
    frozen: bool = False
    held: bool = False  # nothing healthy to move to: the last allocation is kept
    reason: str = Field(default="", max_length=500)
    by: str = Field(default="", max_length=100)
    since: float


class FailoverPlanRow(SQLModel, table=True):
    """One decision to change a promotion or notice: before and after, why, and what became of it.

    status: applied (actions written), dry_run (recorded only), pending_approval, approved,
    superseded (a newer plan replaced it before approval), rejected.
    """

    __tablename__ = "failover_plans"
    __table_args__ = (Index("ix_failover_plans_owner_at", "owner_kind", "owner", "at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    at: float
    owner_kind: str = Field(max_length=16)
    owner: str = Field(max_length=64)
    mode: str = Field(max_length=16)
    status: str = Field(max_length=20)
    reason: str = "{}"  # JSON: failed channels, their incidents, standings
    before: str = "{}"  # JSON: channel -> planned value before
    after: str = "{}"  # JSON: channel -> desired value
    unallocated: int = Field(default=0, sa_type=BigInteger)
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: float | None = None


class FailoverActionRow(SQLModel, table=True):
    """One change on one channel, written with its plan and sent by the relay (transactional outbox).

    status: pending, sending, applied, failed (permanent), conflict (changed outside the service),
    dry_run (never sent), superseded (a newer action for the same promotion and channel replaced it).
    """

    __tablename__ = "failover_actions"
    __table_args__ = (Index("ix_failover_actions_status_next", "status", "next_at"), Index("ix_failover_actions_plan", "plan_id"))

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    plan_id: int = Field(sa_type=ID)
    key: str = Field(max_length=64, unique=True)  # idempotency key, reused on every attempt
    op: str = Field(max_length=20)
    owner_kind: str = Field(max_length=16)
    owner: str = Field(max_length=64)
    channel: str = Field(max_length=64)
    actuator: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    value: int | None = Field(default=None, sa_type=BigInteger)
    expect: int | None = Field(default=None, sa_type=BigInteger)
    text: str | None = None
    status: str = Field(max_length=16)
    attempts: int = 0
    next_at: float
    last_error: str | None = Field(default=None, max_length=500)
    observed: int | None = Field(default=None, sa_type=BigInteger)
    response: str = "{}"
    created_at: float
    applied_at: float | None = None
    # While "sending": which relay claimed it and until when; a relay that died leaves its claims to expire.
    claimed_by: str | None = Field(default=None, max_length=200)
    claim_until: float | None = None


class AlertRow(SQLModel, table=True):
    """An alert, written in the same transaction as the state change that caused it (the outbox).

    The router reads rows not yet routed, decides their destinations (alert_deliveries) and marks
    them routed; the payload is the Alert's fields as JSON.
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_routed", "routed", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    at: float
    event: str = Field(max_length=32)
    channel: str = Field(max_length=64)
    key: str = Field(default="", max_length=200)
    severity: str = Field(max_length=16)
    payload: str = "{}"
    routed: bool = False


class AlertDeliveryRow(SQLModel, table=True):
    """One alert for one destination: pending until sent, then sent; or fell_back to the next notifier."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_dest_status", "destination", "status", "id"),
        Index("ux_alert_deliveries_alert_dest", "alert_id", "destination", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    alert_id: int = Field(sa_type=ID)
    destination: str = Field(max_length=64)
    chain: str = "[]"  # JSON: the notifiers after this one, in fallback order
    status: str = Field(max_length=16)  # pending, sent, fell_back, failed
    attempts: int = 0
    next_at: float
    first_failed_at: float | None = None
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: float | None = None
    ref: str | None = Field(default=None, max_length=300)


class AlertThreadRow(SQLModel, table=True):
    """The message that covers an incident at a destination, so later alerts update it in place."""

    __tablename__ = "alert_threads"

    destination: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    ref: str = Field(max_length=300)
    alert_ids: str = "[]"  # JSON: every alert the message covers, oldest first
    updated_at: float


class LeadershipRow(SQLModel, table=True):
    """Who leads a singleton role (the decider), under which fencing epoch (monitor/store/leadership.py)."""

    __tablename__ = "leadership"

    name: str = Field(primary_key=True, max_length=32)
    epoch: int = Field(sa_type=BigInteger)  # raised by every new leader; a decision under an older one is refused
    holder: str = Field(max_length=200)  # the instance leading, for the operator (host, pid, location)
    since: float


class ProberRow(SQLModel, table=True):
    """A prober's heartbeat: the probers of a location share its checks among the live ones (monitor/membership.py)."""

    __tablename__ = "probers"

    id: str = Field(primary_key=True, max_length=200)  # e.g. host:pid, unique per running prober
    location: str = Field(max_length=64)
    seen_at: float  # its latest heartbeat
    started_at: float
    lost: bool = Field(default=False, sa_column_kwargs={"server_default": false()})  # its "is it us?" guard tripped


class LeaseRow(SQLModel, table=True):
    """A lease on a piece of work several instances could do (an alert destination): one holder until it expires."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=200)
    holder: str = Field(max_length=200)
    until: float  # the holder renews it while working; after this any instance may take it


class AdminCommandRow(SQLModel, table=True):
    """An admin command a web instance (--role web) received, for the leading decider to carry out (monitor/commands.py)."""

    __tablename__ = "admin_commands"

    id: int | None = Field(default=None, primary_key=True, sa_type=ID)
    action: str = Field(max_length=32)  # set_override, add_window, remove_window, approve_plan, set_frozen
    args: str  # JSON
    created_at: float
    done_at: float | None = None
    outcome: str | None = Field(default=None, max_length=16)  # ok, not_found, conflict, error
    result: str | None = None  # JSON: the result, or {"error": text}


class SlackClickRow(SQLModel, table=True):
    """A click on a Slack button, once: a second request with the same identity is a replay (or Slack's retry)."""

    __tablename__ = "slack_clicks"

    key: str = Field(primary_key=True, max_length=64)
    at: float
