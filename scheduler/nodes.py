"""Compute nodes: their states (docs/simulation-model.md#node-states) and the free-slot index used
for placement.

States are interned module-level strings, compared by identity in the hot paths. A node's
``life`` token cancels its lifecycle timers (allocation, boot, start-task attempts, recovery,
repair, retention) and its ``inc`` token its preemption and failure timers: bumping a token
makes every pending timer of that kind stale (see kernel.py on lazy cancellation).
"""

from __future__ import annotations

from typing import Any, Callable

from heapq import heapify, heappop, heappush

__all__ = [
    "CREATING", "STARTING", "WAITINGFORSTARTTASK", "STARTTASKFAILED", "IDLE", "RUNNING",
    "LEAVINGPOOL", "OFFLINE", "PREEMPTED", "UNUSABLE", "REBOOTING", "REMOVED", "DEDICATED",
    "LOW_PRIORITY", "KIND_NAMES",
    "Node", "PrepRecord", "SlotIndex", "removal_rank",
]

CREATING = "creating"
STARTING = "starting"
WAITINGFORSTARTTASK = "waitingforstarttask"
STARTTASKFAILED = "starttaskfailed"
IDLE = "idle"
RUNNING = "running"
LEAVINGPOOL = "leavingpool"
#: scheduling disabled by a request and nothing left on the node
#: (docs/simulation-model.md#requests-at-any-instant); never reached by a simulation's own rules
OFFLINE = "offline"
PREEMPTED = "preempted"
UNUSABLE = "unusable"
#: restarting after a reboot request (docs/simulation-model.md#requests-at-any-instant): its VM
#: and its disk stay, its processes end, then it boots and runs its start task again; never
#: reached by a simulation's own rules
REBOOTING = "rebooting"
REMOVED = "removed"

DEDICATED = 0
LOW_PRIORITY = 1
KIND_NAMES = ("dedicated", "lowPriority")

#: Ranks of the scale-down choice (docs/simulation-model.md#which-nodes-leave-on-scale-down)
#: by state (running nodes are ranked 5 or 6 separately).
_REMOVAL_RANK = {
    PREEMPTED: 1,
    UNUSABLE: 2, STARTTASKFAILED: 2,
    CREATING: 3, STARTING: 3, WAITINGFORSTARTTASK: 3, REBOOTING: 3,
    IDLE: 4, OFFLINE: 4,
}

# prep record states (docs/simulation-model.md#job-preparation-and-release-tasks)
PREP_RUNNING = "running"
PREP_SUCCEEDED = "succeeded"
PREP_FAILED = "failed"
PREP_KILLED = "killed"       # stopped by its job's termination
                             # (docs/simulation-model.md#job-states-and-termination)


class PrepRecord:
    """A job preparation task on one node: its state, attempts and the tasks waiting for it."""

    __slots__ = ("state", "attempts", "waiting")

    def __init__(self) -> None:
        self.state = PREP_RUNNING
        self.attempts = 0
        self.waiting: list = []


class Node:
    __slots__ = (
        "num", "id", "kind", "state", "life", "inc", "used", "tasks", "n_busy", "n_jm",
        "exclusive", "disabled", "requested", "leave_option", "prep", "excluded", "releases", "retain_until",
        "retention_timer", "bucket", "cpu", "mem", "disk", "st_rng", "st_attempts", "reboot",
    )

    num: int
    id: str
    kind: int
    state: str
    life: int
    inc: int
    used: int
    tasks: dict[Any, None]
    n_busy: int
    n_jm: int
    exclusive: bool
    disabled: bool
    requested: bool
    leave_option: Any
    prep: Any                       # dict: job -> PrepRecord
    excluded: set[Any]
    releases: dict[Any, bool]
    retain_until: float
    retention_timer: bool
    bucket: int
    cpu: float
    mem: float
    disk: float
    st_rng: Any
    st_attempts: int
    reboot: Any

    def __init__(self, num: int, kind: int) -> None:
        self.num = num
        self.id = f"tvm-{num:06d}"
        self.kind = kind
        self.state = CREATING
        self.life = 0
        self.inc = 0
        self.used = 0                     # Σ requiredSlots of assigned tasks
        self.tasks = {}                   # assigned tasks (insertion ordered: deterministic)
        self.n_busy = 0                   # tasks + running preparation and release tasks
        self.n_jm = 0                     # job managers assigned here (rank 6 of
                                          # docs/simulation-model.md#which-nodes-leave-on-scale-down)
        self.exclusive = False            # hosts a runExclusive job manager
        self.disabled = False             # scheduling disabled by a request: out of the slot
                                          # index, `offline` instead of `idle`
        self.requested = False            # in `creating` because a resize asked for it
        self.leave_option = None
        self.prep = {}                    # job -> PrepRecord
        self.excluded = set()             # jobs whose preparation failed here for good
        self.releases = {}                # job -> True while its release task runs here
        self.retain_until = 0.0           # retaineddata: latest endTime + retentionTime
        self.retention_timer = False
        self.bucket = -1                  # SlotIndex bucket (= used) or -1 when not indexed
        self.cpu = 0.0                    # Σ CPU shares of running tasks (node CPU = min(100, cpu))
        self.mem = 0.0
        self.disk = 0.0
        self.st_rng = None
        self.st_attempts = 0
        self.reboot = None                # a reboot waiting for the node's tasks to end:
                                          # (option, scheduling disabled before it)

    @property
    def usable(self) -> bool:
        return self.state is IDLE or self.state is RUNNING

    def __repr__(self) -> str:
        return f"Node({self.id}, {KIND_NAMES[self.kind]}, {self.state}, used={self.used})"


def removal_rank(node: Node) -> tuple[int, int, int]:
    """The sort key of docs/simulation-model.md#which-nodes-leave-on-scale-down: (rank, used slots
    for running nodes, id number)."""
    r = _REMOVAL_RANK.get(node.state)
    if r is not None:
        return (r, 0, node.num)
    return (6 if node.n_jm else 5, node.used, node.num)


class _Forgotten:
    """Stands in the slot index for a removed node (see SlotIndex.forget)."""

    __slots__ = ()
    bucket = -1


_FORGOTTEN: Any = _Forgotten()


class SlotIndex:
    """Usable, non-exclusive nodes with scheduling enabled and a free slot, bucketed by used
    slots.

    ``count[u]`` is the exact number of indexed nodes with ``used == u``; ``heaps[u]`` holds
    their id numbers with lazy deletion (an entry is live when the node's ``bucket`` is still
    ``u``). Spread takes the lowest id of the lowest non-empty bucket that fits, pack the lowest
    id of the highest (docs/simulation-model.md#placement-and-fill-type), so a placement
    costs O(S + log n) with S = taskSlotsPerNode.

    ``by_num`` maps the number of every node the pool holds to the node; a removed node's number
    leaves it, so the index is bounded by the pool's size (limits.MAX_POOL_NODES), not by how
    many nodes a run has created and removed, which a formula can make as large as it likes.

    :meth:`view` gives the same buckets through a filter (:class:`SlotView`): placement for a
    job with excluded nodes or a restricted job manager.
    """

    __slots__ = ("slots", "count", "heaps", "by_num", "arrivals", "views")

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.count = [0] * slots
        self.heaps: list[list[int]] = [[] for _ in range(slots)]
        self.by_num: dict[int, Any] = {}
        # Filtered views (see SlotView): ``arrivals[u]`` lists the numbers of nodes put in
        # bucket u since the views were made; kept only while some view exists.
        self.arrivals: list[list[int]] = [[] for _ in range(slots)]
        self.views: dict[Any, SlotView] = {}

    def forget(self, node: Node) -> None:
        """Let a removed node go: its number leaves ``by_num``, and the lazy heap entries left
        for it read as the placeholder, which is never in a bucket (stale). A pool that cycles
        through 10^5 nodes an evaluation holds only the nodes it has, not every node it ever
        had."""
        self.drop(node)
        del self.by_num[node.num]

    def register(self, node: Node) -> None:
        """Make ``node`` known by its number (once, when it is first requested)."""
        self.by_num[node.num] = node

    def put(self, node: Node) -> None:
        """(Re-)index ``node`` under its current used slots; the caller checked eligibility."""
        u = node.used
        old = node.bucket
        if old == u:
            return
        if old >= 0:
            self.count[old] -= 1
        if u >= self.slots:
            node.bucket = -1
            return
        node.bucket = u
        self.count[u] += 1
        h = self.heaps[u]
        heappush(h, node.num)
        if len(h) > 2 * self.count[u] + 64:
            self._rebuild(u)
        if self.views:
            self._arrive(u, node.num)

    def touch(self, node: Node) -> None:
        """``node`` may pass a view's filter it failed before (its exclusions were cleared):
        let the views look at it again."""
        if self.views and node.bucket >= 0:
            self._arrive(node.bucket, node.num)

    def _arrive(self, u: int, num: int) -> None:
        a = self.arrivals[u]
        a.append(num)
        if len(a) > 2 * len(self.by_num) + 64:
            self._drop_views()      # cheaper to rebuild a view than to keep the backlog

    def _drop_views(self) -> None:
        self.views = {}
        self.arrivals = [[] for _ in range(self.slots)]

    def view(self, key: Any, accept: Callable[[Node], bool]) -> SlotView:
        """The view of the indexed nodes ``accept`` takes, made on first use under ``key``
        (``accept`` must depend only on what ``key`` names and on the node's kind and
        exclusions; see :meth:`touch`)."""
        v = self.views.get(key)
        if v is None:
            if len(self.views) >= _MAX_VIEWS:
                self._drop_views()
            v = self.views[key] = SlotView(self, accept)
        return v

    def drop(self, node: Node) -> None:
        if node.bucket >= 0:
            self.count[node.bucket] -= 1
            node.bucket = -1

    def _rebuild(self, u: int) -> None:
        node = self.by_num.get
        self.heaps[u] = sorted({n for n in self.heaps[u] if node(n, _FORGOTTEN).bucket == u})

    def top(self, u: int) -> Node:
        h = self.heaps[u]
        node_of = self.by_num.get
        while True:
            node = node_of(h[0], _FORGOTTEN)
            if node.bucket == u:
                return node
            heappop(h)

    def max_free(self) -> int:
        """The most free slots on any indexed node (0 when none has a free slot)."""
        count = self.count
        for u in range(self.slots):
            if count[u]:
                return self.slots - u
        return 0

    def find_spread(self, k: int) -> Node | None:
        count = self.count
        for u in range(self.slots - k + 1):
            if count[u]:
                return self.top(u)
        return None

    def find_pack(self, k: int) -> Node | None:
        count = self.count
        for u in range(self.slots - k, -1, -1):
            if count[u]:
                return self.top(u)
        return None

    def lowest_empty(self, n: int) -> list[Node] | None:
        """The ``n`` indexed nodes with nothing assigned that have the lowest ids, in id
        order, or None when there are fewer (multi-instance placement). O(n log N)."""
        if self.count[0] < n:
            return None
        return _lowest(self.heaps[0], n, self.by_num.get, lambda node: node.bucket == 0)

    def empty_nodes(self) -> list[Node]:
        """Indexed nodes with nothing assigned, by id (multi-instance placement)."""
        node = self.by_num.get
        return sorted((node(n, _FORGOTTEN) for n in set(self.heaps[0])
                       if node(n, _FORGOTTEN).bucket == 0), key=lambda n: n.num) \
            if self.count[0] else []


_MAX_VIEWS = 64


def _lowest(h: list[int], n: int, node_of: Any, live: Callable[[Node], bool]) -> list[Node] | None:
    """The ``n`` lowest-numbered distinct live nodes of the lazy heap ``h`` (None when fewer):
    pop until found, drop stale entries and duplicates, push the found ones back."""
    found: list[Node] = []
    last = -1
    while h and len(found) < n:
        num = heappop(h)
        if num == last:
            continue
        node = node_of(num, _FORGOTTEN)
        if live(node):
            found.append(node)
            last = num
    for node in found:
        heappush(h, node.num)
    return found if len(found) == n else None


class SlotView:
    """The indexed nodes a filter accepts (not excluded for a job, dedicated only for a job
    manager that may not run on low-priority nodes), bucketed like :class:`SlotIndex`.

    WHY: without it, placing a task of a job whose preparation task failed on some nodes (or a
    job manager) meant scanning every node of the pool on every attempt, O(nodes²) in a run
    when every node fails the preparation task, which a pool of 10^5 nodes never finished.
    Here every node put in a bucket is looked at once per view (through the index's
    ``arrivals``), a refused node leaves the view's heap for good until it arrives again, so
    a placement costs O(S + log n) amortized, and picks the same node as the scan: the lowest
    id of the best bucket the filter accepts.

    It holds the index's lists, not the index (no reference cycle: a finished run is freed by
    reference counting, see Simulation.release); the index drops its views whenever it
    replaces ``arrivals``.
    """

    __slots__ = ("slots", "count", "by_num", "arrivals", "accept", "heaps", "seen")

    def __init__(self, index: SlotIndex, accept: Callable[[Node], bool]) -> None:
        self.slots = index.slots
        self.count = index.count
        self.by_num = index.by_num
        self.arrivals = index.arrivals
        self.accept = accept
        heaps: list[list[int]] = [[] for _ in range(index.slots)]
        for num, node in index.by_num.items():
            if node.bucket >= 0 and accept(node):
                heaps[node.bucket].append(num)
        for h in heaps:
            heapify(h)
        self.heaps = heaps
        self.seen = [len(a) for a in index.arrivals]

    def _catch_up(self, u: int) -> list[int]:
        h = self.heaps[u]
        a = self.arrivals[u]
        i = self.seen[u]
        if i < len(a):
            node_of = self.by_num.get
            accept = self.accept
            for num in a[i:]:
                node = node_of(num, _FORGOTTEN)
                if node.bucket == u and accept(node):
                    heappush(h, num)
            self.seen[u] = len(a)
        return h

    def top(self, u: int) -> Node | None:
        """The lowest-id accepted node of bucket ``u``, or None."""
        h = self._catch_up(u)
        node_of = self.by_num.get
        accept = self.accept
        while h:
            node = node_of(h[0], _FORGOTTEN)
            if node.bucket == u and accept(node):
                return node
            heappop(h)
        return None

    def find(self, k: int, pack: bool) -> Node | None:
        """As SlotIndex.find_pack / find_spread, among the accepted nodes."""
        count = self.count
        for u in (range(self.slots - k, -1, -1) if pack else range(self.slots - k + 1)):
            if count[u]:
                node = self.top(u)
                if node is not None:
                    return node
        return None

    def lowest_empty(self, n: int) -> list[Node] | None:
        """As SlotIndex.lowest_empty, among the accepted nodes."""
        if self.count[0] < n:
            return None
        accept = self.accept
        return _lowest(self._catch_up(0), n, self.by_num.get,
                       lambda node: node.bucket == 0 and accept(node))
