"""Every Redis key and channel name Horus uses is built here (docs/protocol.md).

Keys about one runner's jobs share the Redis Cluster hash tag ``{runner_id}`` so each
Lua script touches a single slot; the job-id index is tagged by the job id; a workflow's keys by
its bucket (:func:`workflow_bucket`).
"""

from __future__ import annotations

from binascii import crc_hqx
from dataclasses import dataclass

DEFAULT_NAMESPACE = "horus"
#: What a runner's queue holds for a job with a priority: the first worker to take a token
#: starts the best job of :meth:`Keys.priority_queue` (never a job id: ids start with a letter
#: or digit).
PRIORITY_TOKEN = "!priority"


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = DEFAULT_NAMESPACE

    # -- by job id (tag: job id) -------------------------------------------------
    def job_index(self, job_id: str) -> str:
        """String: the runner id of a submitted job; its SET NX guards against replays. Once the
        job is deleted it holds ``!deleted`` (broker.DELETED), so the id stays claimed."""
        return f"{self.namespace}:job:{{{job_id}}}"

    # -- per runner (tag: runner id) ---------------------------------------------
    def _runner(self, runner_id: str) -> str:
        return f"{self.namespace}:runner:{{{runner_id}}}"

    def queue(self, runner_id: str) -> str:
        """List of job ids waiting for a worker (LPUSH in, consumed from the right). A job with
        a priority is queued as a :data:`PRIORITY_TOKEN` pushed on the right, and its id waits in
        :meth:`priority_queue`. Scripts that take only the queue key derive the runner's other
        keys from it: its name less ``jobs`` plus ``scheduled``, ``priority``, ``priority_seq`` or
        ``control`` (tests/unit/test_keys.py holds that rule)."""
        return f"{self._runner(runner_id)}:jobs"

    def scheduled(self, runner_id: str) -> str:
        """Sorted set: job id -> when it is due (ms, Redis's clock): jobs waiting for their
        ``not_before`` or their next attempt. release.lua moves the due ones to the queue."""
        return f"{self._runner(runner_id)}:scheduled"

    def priority_queue(self, runner_id: str) -> str:
        """Sorted set: queued job ids with a priority above 0, score ``(9 - priority) * 2**48 +
        sequence``: the lowest score, taken first, is the highest priority, first come."""
        return f"{self._runner(runner_id)}:priority"

    def priority_seq(self, runner_id: str) -> str:
        """String counter: the sequence number of the runner's last job queued with a priority."""
        return f"{self._runner(runner_id)}:priority_seq"

    def job(self, runner_id: str, job_id: str) -> str:
        """Hash of small fields: status, deliveries, worker, timestamps, cancel flag, and the
        owner (the identity of the token that submitted it through a supervisor)."""
        return f"{self._runner(runner_id)}:job:{job_id}"

    def spec(self, runner_id: str, job_id: str) -> str:
        """String: the signed job as submitted (kept apart so the hash stays compact)."""
        return f"{self._runner(runner_id)}:job:{job_id}:spec"

    def job_affixes(self, runner_id: str) -> tuple[str, str, str]:
        """For a script that learns a job id in Redis: the job hash key is ``a + id + b`` and
        its spec key ``a + id + b + c``."""
        marker = "\0"
        before, after = self.job(runner_id, marker).split(marker)
        spec_tail = self.spec(runner_id, marker).split(marker)[1]
        if not spec_tail.startswith(after):
            raise AssertionError("a spec key must extend its job hash key")
        return before, after, spec_tail[len(after) :]

    def result(self, runner_id: str, job_id: str) -> str:
        """List: one element pushed when the job ends; waiters block on it."""
        return f"{self._runner(runner_id)}:job:{job_id}:result"

    def inputs(self, runner_id: str, job_id: str) -> str:
        """String: a workflow step's upstream results (JSON), written by the coordinator."""
        return f"{self._runner(runner_id)}:job:{job_id}:inputs"

    def log(self, runner_id: str, job_id: str) -> str:
        """Capped stream of output lines, closed by an ``eof`` entry."""
        return f"{self._runner(runner_id)}:job:{job_id}:log"

    def inflight(self, runner_id: str, worker_id: str) -> str:
        """List of job ids a worker process has reserved and not yet acknowledged."""
        return f"{self._runner(runner_id)}:inflight:{worker_id}"

    def workers(self, runner_id: str) -> str:
        """Sorted set: worker id -> heartbeat deadline (ms since epoch, Redis clock)."""
        return f"{self._runner(runner_id)}:workers"

    def worker_types(self, runner_id: str) -> str:
        """Hash: worker master id (``host:pid``) -> JSON {type, at_ms}: the runner type each
        master serves, so a master of another type on the same runner id is refused."""
        return f"{self._runner(runner_id)}:types"

    def masters(self, runner_id: str) -> str:
        """Hash: worker master id (``host:pid``) -> JSON of what it is (host, pid, type,
        concurrency, started_at, version) and its last heartbeat (``heartbeat_ms``, Redis clock,
        with ``ttl_ms``): written by heartbeat.lua, removed on a clean stop; readers skip a
        record whose heartbeat is older than its ttl (horus/inspect.py)."""
        return f"{self._runner(runner_id)}:masters"

    def rate_limit(self, runner_id: str) -> str:
        """Sorted set: the runner's recent job starts under ``--rate-limit`` (member ``ms:worker
        id:counter``, score: when, ms on Redis's clock); entries past the window are dropped and
        the key expires one window after the last start (horus/lua/rate_limit.lua)."""
        return f"{self._runner(runner_id)}:ratelimit"

    def dead(self, runner_id: str) -> str:
        """List of job ids given up after too many deliveries."""
        return f"{self._runner(runner_id)}:dead"

    def control(self, runner_id: str) -> str:
        """Pub/sub channel for commands to a runner's workers: ``cancel ID``, and ``due MS``
        (a job becomes due in MS ms: the masters set their release timers)."""
        return f"{self._runner(runner_id)}:control"

    def events(self, runner_id: str) -> str:
        """Capped stream of the runner's job events (``dispatched``, ``started``, ``completed``,
        ...), appended by the script that makes each change (docs/operations.md, "Events").
        Per runner, so it stays in the runner's slot; readers find the runners in :meth:`runners`."""
        return f"{self._runner(runner_id)}:events"

    def coordinator_wake(self, runner_id: str) -> str:
        """Stream of one entry (MAXLEN 1): a coordinator on a Redis Cluster appends to it to wake
        its own reader of the runner's step-job log streams when it adds a stream to those it
        blocks on (horus/stream_fanin.py); any coordinator's reader of this runner wakes."""
        return f"{self._runner(runner_id)}:wfwake"

    def stats(self, runner_id: str) -> str:
        """Hash of counters: ended jobs by final status and duration (``bucket:STATUS:LE``,
        ``duration_sum_us``; ``ended:STATUS`` for those that never ran), kept by the same scripts."""
        return f"{self._runner(runner_id)}:stats"

    # -- namespace-wide ----------------------------------------------------------
    def runners(self) -> str:
        """Set of runner ids that have had workers or jobs (enqueue.lua adds a job's runner
        while events are on)."""
        return f"{self.namespace}:runners"

    # -- supervisor (namespace-wide; each command touches one key) ---------------
    def _supervisor(self) -> str:
        return f"{self.namespace}:supervisor"

    def supervisor_runners(self) -> str:
        """Hash: runner id -> JSON record (type, registration time) of the supervisor's registry."""
        return f"{self._supervisor()}:runners"

    def supervisor_keys(self) -> str:
        """Hash: trusted public key (hex) -> JSON record (runner patterns, time added)."""
        return f"{self._supervisor()}:keys"

    def supervisor_tokens(self) -> str:
        """Hash: sha256 hex of a bearer token -> JSON record (name, role); tokens never stored raw."""
        return f"{self._supervisor()}:tokens"

    def supervisor_jobs(self) -> str:
        """Sorted set: job id -> created_at, every job admitted through a supervisor (job.list)."""
        return f"{self._supervisor()}:jobs"

    # -- schedules and the beat (tag: "schedules": every schedule script runs in one slot) ----
    def _beat(self) -> str:
        return f"{self.namespace}:beat:{{schedules}}"

    def schedules(self) -> str:
        """Hash: schedule name -> the signed schedule JSON (``Schedule.stored``)."""
        return f"{self._beat()}:defs"

    def schedules_due(self) -> str:
        """Sorted set: name -> its first occurrence not yet fired (ms); paused ones are absent."""
        return f"{self._beat()}:due"

    def schedules_paused(self) -> str:
        """Set of paused schedule names."""
        return f"{self._beat()}:paused"

    def schedules_fired(self) -> str:
        """Hash: name -> JSON of its latest firing (occurrence, job id, runner, when it was sent)."""
        return f"{self._beat()}:fired"

    def beat_lease(self) -> str:
        """String with a TTL: the id of the beat that leads (fires); the others stand by."""
        return f"{self._beat()}:lease"

    # -- osiris document store (tag: collection name) ----------------------------
    # Every key of one collection shares the tag ``{collection}``, so each Osiris script runs in
    # one slot. The scripts derive index key names from the prefix the same way as below.
    def osiris_prefix(self, collection: str) -> str:
        """The start of every key of one collection; the Lua scripts append ``:index:F`` etc."""
        return f"{self.namespace}:osiris:{{{collection}}}"

    def osiris_schema(self, collection: str) -> str:
        """Hash: indexed field -> ``index`` or ``unique``."""
        return f"{self.osiris_prefix(collection)}:schema"

    def osiris_seq(self, collection: str) -> str:
        """String counter: the creation sequence number of the collection's last document."""
        return f"{self.osiris_prefix(collection)}:seq"

    def osiris_ids(self, collection: str) -> str:
        """Sorted set: document id -> creation sequence number (``list`` order, ``count``)."""
        return f"{self.osiris_prefix(collection)}:ids"

    def osiris_doc(self, collection: str, doc_id: str) -> str:
        """Hash: field -> the field's value as canonical JSON."""
        return f"{self.osiris_prefix(collection)}:doc:{doc_id}"

    def osiris_index(self, collection: str, field: str) -> str:
        """Sorted set, all scores 0: members ``VALUE_JSON NUL id`` of an indexed field (lex ranges)."""
        return f"{self.osiris_prefix(collection)}:index:{field}"

    def osiris_unique(self, collection: str, field: str) -> str:
        """Hash: ``VALUE_JSON`` -> id of the one document holding that value of a unique field."""
        return f"{self.osiris_prefix(collection)}:unique:{field}"

    # -- coordinator (workflows; tag: the workflow's bucket) -------------------------
    # A workflow's keys and the indexes and wake-up stream that list it share the hash tag of its
    # bucket, ``{bNN}`` (:func:`workflow_bucket`), so creating, completing and cancelling a
    # workflow each stay one script in one slot on a Redis Cluster, index entries included.
    # Readers of the indexes read every bucket (:meth:`workflow_buckets`).
    def workflow_buckets(self) -> list[str]:
        """The hash tag of every bucket, in order (``b00`` ... ``b63``)."""
        return [f"b{n:02d}" for n in range(WORKFLOW_BUCKETS)]

    def _bucket(self, bucket: str) -> str:
        return f"{self.namespace}:wf:{{{bucket}}}"

    def _workflow(self, workflow_id: str) -> str:
        return f"{self._bucket(workflow_bucket(workflow_id))}:id:{workflow_id}"

    def workflow(self, workflow_id: str) -> str:
        """Hash: the workflow's meta (name, policy, status, digest, submitter, counters, times)."""
        return self._workflow(workflow_id)

    def workflow_spec(self, workflow_id: str) -> str:
        """String: the client-signed workflow JSON as submitted."""
        return f"{self._workflow(workflow_id)}:spec"

    def workflow_steps(self, workflow_id: str) -> str:
        """Hash: step id -> JSON state (status, attempt, unfinished dependencies, dependants, times)."""
        return f"{self._workflow(workflow_id)}:steps"

    def workflow_results(self, workflow_id: str) -> str:
        """Hash: step id -> the JobResult JSON of the step's final attempt."""
        return f"{self._workflow(workflow_id)}:results"

    def workflow_ready(self, workflow_id: str) -> str:
        """List of step ids whose dependencies are done, waiting to be dispatched."""
        return f"{self._workflow(workflow_id)}:ready"

    def workflow_timers(self, workflow_id: str) -> str:
        """Sorted set: step id -> when (ms, Redis clock) its next retry may be dispatched."""
        return f"{self._workflow(workflow_id)}:timers"

    def workflow_lease(self, workflow_id: str) -> str:
        """String with a TTL: the id of the coordinator that drives the workflow."""
        return f"{self._workflow(workflow_id)}:lease"

    def workflow_done(self, workflow_id: str) -> str:
        """List: one element pushed when the workflow ends; waiters block on it."""
        return f"{self._workflow(workflow_id)}:done"

    def workflows_active(self, bucket: str) -> str:
        """Sorted set: workflow id -> created_at, every workflow of the bucket that has not ended."""
        return f"{self._bucket(bucket)}:active"

    def workflows_index(self, bucket: str) -> str:
        """Sorted set: workflow id -> created_at, every stored workflow of the bucket (workflow.list)."""
        return f"{self._bucket(bucket)}:index"

    def workflow_events(self, bucket: str) -> str:
        """Capped stream of the bucket's submit and cancel events, which wake every coordinator."""
        return f"{self._bucket(bucket)}:events"

    # -- workflows stored before buckets (read once, by the migration at a coordinator's start) --
    def unbucketed_workflow_keys(self, workflow_id: str) -> tuple[str, ...]:
        """A workflow's keys in the layout before buckets (``NS:wf:{ID}`` and its parts), in the
        order of :meth:`bucketed_workflow_keys`: meta, spec, steps, results, ready, timers, done, lease."""
        base = f"{self.namespace}:wf:{{{workflow_id}}}"
        return (base, *(f"{base}:{part}" for part in _WORKFLOW_PARTS))

    def bucketed_workflow_keys(self, workflow_id: str) -> tuple[str, ...]:
        """The same keys in the bucketed layout."""
        w = workflow_id
        return (
            self.workflow(w), self.workflow_spec(w), self.workflow_steps(w), self.workflow_results(w),
            self.workflow_ready(w), self.workflow_timers(w), self.workflow_done(w), self.workflow_lease(w),
        )  # fmt: skip

    def workflows_active_unbucketed(self) -> str:
        """Sorted set of the layout before buckets: running workflows."""
        return f"{self.namespace}:wf:active"

    def workflows_index_unbucketed(self) -> str:
        """Sorted set of the layout before buckets: every stored workflow."""
        return f"{self.namespace}:wf:index"

    def workflow_events_unbucketed(self) -> str:
        """Stream of the layout before buckets: submit and cancel events."""
        return f"{self.namespace}:wf:events"


_WORKFLOW_PARTS = ("spec", "steps", "results", "ready", "timers", "done", "lease")


#: How many buckets a namespace's workflows are spread over (docs/scaling.md, "Places that
#: span slots", item 3): enough for their slots to spread evenly over the masters of any likely cluster
#: (64 tags give 22/24/18 on three masters), few enough that reading every bucket (workflow.list,
#: a coordinator's scan and lease renewal, its wake-up streams) stays one short pipeline.
#: Fixed: a workflow's keys are found from its id through it.
WORKFLOW_BUCKETS = 64


def workflow_bucket(workflow_id: str) -> str:
    """The bucket of a workflow: CRC16/XMODEM (Redis's slot hash) of its id modulo 64, as ``bNN``."""
    return f"b{crc_hqx(workflow_id.encode(), 0) % WORKFLOW_BUCKETS:02d}"
