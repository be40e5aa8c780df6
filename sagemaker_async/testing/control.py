"""A small client for the simulator's control API (stdlib only, usable from any process)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from sagemaker_async.testing.faults import FaultSettings
    from sagemaker_async.testing.logpages import LogOptions

CONTROL_PATH = "/_simulator"
# The simulator is a local test server: an HTTP(S)_PROXY from the environment must not catch it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorControlError(RuntimeError):
    """The control API answered with an error, or could not be reached."""


class SimulatorClient:
    """Talks to a running simulator's ``/_simulator/`` control API.

    :param endpoint_url: the simulator's base URL, e.g. ``http://127.0.0.1:5000``.
    :param timeout: seconds to wait for each request.
    """

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def health(self) -> bool:
        """Whether the simulator answers; never raises."""
        try:
            return bool(self._request("GET", "health", timeout=2.0).get("ok"))
        except SimulatorControlError:
            return False

    def wait_until_healthy(self, timeout: float = 30.0, interval: float = 0.1) -> bool:
        """Poll :meth:`health` until it is true or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health():
                return True
            time.sleep(interval)
        return self.health()

    def add_rule(
        self,
        name_prefix: str,
        duration: float | None = None,
        outcome: str = "Completed",
        failure_reason: str | None = None,
    ) -> None:
        """Plan jobs whose name starts with ``name_prefix``; the newest matching rule wins.

        :param name_prefix: job-name prefix the rule applies to ("" matches every job).
        :param duration: seconds ``InProgress``; ``None`` keeps the simulator default.
        :param outcome: ``"Completed"`` or ``"Failed"``.
        :param failure_reason: ``FailureReason`` of failed jobs; ``None`` keeps the default.
        """
        rule = {
            "name_prefix": name_prefix,
            "duration": duration,
            "outcome": outcome,
            "failure_reason": failure_reason,
        }
        self._request("POST", "rules", rule)

    def hurry(self, name_prefix: str, within: float = 2.0) -> list[str]:
        """Squeeze what is left of every ``InProgress`` job whose name starts with
        ``name_prefix`` into ``within`` seconds, as when a training script stops early: each
        still goes through the statuses it had not reached, in order, and ends with its
        planned outcome (unless a ``StoppingCondition`` limit inside that time stops it
        first); what it showed before is unchanged. A job is hurried once; later calls leave
        it be. Returns the names of the jobs hurried by this call.
        """
        body = {"name_prefix": name_prefix, "within": within}
        return cast("list[str]", self._request("POST", "hurry", body)["jobs"])

    def jobs(self, prefix: str | None = None) -> list[dict[str, Any]]:
        """Every job (or those whose name starts with ``prefix``), oldest first: name,
        status, secondary_status, created_at, ended_at (None while it runs), tags and
        per-job calls.

        ``calls`` counts the calls received that named the job, faulted or not;
        ``served_calls`` only those that got past the injected faults and were handled;
        ``signers`` lists ``[operation, access key id]`` of each call received, in order;
        ``first_calls`` maps each operation to when it first named the job (epoch seconds);
        ``listed`` counts the ListTrainingJobs answers that included the job and
        ``first_listed`` says when the first did (epoch seconds, or ``None``).
        """
        route = "jobs" if prefix is None else "jobs?" + urllib.parse.urlencode({"prefix": prefix})
        return cast("list[dict[str, Any]]", self._request("GET", route)["jobs"])

    def job(self, name: str) -> dict[str, Any] | None:
        """One job as in :meth:`jobs`, or ``None`` if there is no job of that name."""
        return next((job for job in self.jobs(prefix=name) if job["name"] == name), None)

    def calls(self) -> dict[str, int]:
        """How many times each SageMaker operation was received."""
        return cast("dict[str, int]", self._request("GET", "calls")["calls"])

    def served_calls(self) -> dict[str, int]:
        """How many times each SageMaker operation got past the injected faults and was handled."""
        return cast("dict[str, int]", self._request("GET", "calls")["served"])

    def logs_sts_calls(self) -> dict[str, dict[str, int]]:
        """``{"received": {operation: n}, "served": {operation: n}}`` of the CloudWatch Logs
        and STS calls since the last reset. Received counts every call, those refused for an
        expired token, a fault or the account's rate limit too; served, those answered."""
        answer = self._request("GET", "calls").get("logs_sts") or {}
        return {
            "received": dict(answer.get("received") or {}),
            "served": dict(answer.get("served") or {}),
        }

    def reset(self) -> None:
        """Forget all jobs (a seeded history too), rules, faults, rate limits, quotas,
        capacity failures, call counters (CloudWatch Logs and STS ones too) and assumed
        roles; restore the default listing and log settings."""
        self._request("POST", "reset", {})

    def set_faults(self, **config: Unpack[FaultSettings]) -> None:
        """Replace the fault configuration of SageMaker calls, and of the CloudWatch Logs and
        STS operations ``operations`` names (the control API is never faulted). Faults of
        Logs and STS calls are answered in their protocol (STS: ``Throttling`` for a
        throttle).

        :param throttle_fraction: share of calls answered 400 ``ThrottlingException``.
        :param error_fraction: share of calls answered 500 ``InternalFailure`` or 503
            ``ServiceUnavailable`` (alternately).
        :param error_burst: ``{"every": s, "length": s}``: 5xx for the first ``length``
            seconds of every ``every`` seconds, counted from now.
        :param latency: seconds added before every matching call is answered.
        :param drop_fraction: share of calls whose connection is closed without an answer.
        :param down_for: seconds from now during which every matching call gets 503.
        :param operations: only fault these operations (default: every SageMaker operation);
            may name ``FilterLogEvents``, ``DescribeLogStreams``, ``GetLogEvents``,
            ``AssumeRole`` and ``GetCallerIdentity``, which are faulted only when named.
        :param create_then_fail: a faulted ``CreateTrainingJob`` creates the job, then
            answers 500 (an ambiguous create); otherwise faulted calls have no effect.
        :param seed: seed of the random choices, for a reproducible pattern.
        """
        self._request("POST", "faults", dict(config))

    def clear_faults(self) -> None:
        """Answer every call normally again (the fault counters are kept)."""
        self._request("POST", "faults", {})

    def faults(self) -> dict[str, Any]:
        """``{"config": ..., "counters": {kind: n}, "down_remaining": seconds}``.

        Counters (since the last reset): ``throttled``, ``errors``, ``dropped``, ``delayed``,
        ``down`` and ``created_then_failed`` (also counted in ``errors``).
        """
        return self._request("GET", "faults")

    def set_credential_lifetime(self, seconds: float | None) -> None:
        """Make later STS ``AssumeRole`` answers expire ``seconds`` from now (``None``: moto's
        lifetime, the ``DurationSeconds`` asked for). Real STS issues at least 15 minutes;
        a few seconds let a test see credentials refreshed during one wait.

        Whatever their lifetime, a SageMaker, CloudWatch Logs or STS request signed with a
        session token past its ``Expiration`` is answered 400 ``ExpiredTokenException``
        (STS: ``ExpiredToken``), "The security token included in the request is expired",
        as AWS answers it; requests without a session token are always accepted.

        :param seconds: the lifetime of the credentials (> 0), or ``None``.
        """
        self._request("POST", "sts", {"credential_lifetime": seconds})

    def assumed_roles(self) -> list[dict[str, Any]]:
        """Every ``AssumeRole`` answered since the last reset, oldest first.

        Each: ``source_key`` (key id that signed it), ``request`` (``RoleArn``,
        ``RoleSessionName``, ``ExternalId``, ...), ``access_key`` (key id issued),
        ``expiration`` and ``at`` (epoch seconds).
        """
        return cast("list[dict[str, Any]]", self._request("GET", "sts")["assumed"])

    def set_listing(self, time_filters: str) -> None:
        """Choose how ListTrainingJobs applies ``NameContains`` and the ``CreationTime*`` /
        ``LastModifiedTime*`` filters, which AWS does not document.

        :param time_filters: ``"after_page"`` (the default): take ``MaxResults`` jobs in
            order, then filter them, as AWS documents for ``StatusEquals``, so pages can be
            short or empty and still carry a ``NextToken``; ``"before_page"``: filter, then
            take ``MaxResults`` of the jobs that pass.
        """
        self._request("POST", "listing", {"time_filters": time_filters})

    def listing(self) -> dict[str, Any]:
        """The listing settings: ``{"time_filters": "after_page" | "before_page"}``."""
        return self._request("GET", "listing")

    def set_rate_limits(self, limits: dict[str, float | dict[str, float]]) -> None:
        """Replace the account's per-operation rate limits (``{}`` removes them all).

        A call over its operation's limit is answered 400 and has no effect: SageMaker and
        CloudWatch Logs (``FilterLogEvents``, ``DescribeLogStreams``, ``GetLogEvents``)
        answer ``{"__type": "ThrottlingException", "message": "Rate exceeded"}``, STS
        (``AssumeRole``, ``GetCallerIdentity``) its query-protocol error ``Throttling``
        ("Rate exceeded"). A throttled SageMaker call counts as received, not served. Each
        limit is a token bucket, full when set.

        :param limits: ``{operation: rate}`` or ``{operation: {"rate": r, "burst": b}}``:
            ``r`` calls a second (> 0), up to ``b`` at once (>= 1; default ``max(1, r)``).
        """
        self._request("POST", "limits", dict(limits))

    def rate_limits(self) -> dict[str, Any]:
        """``{"limits": {op: {"rate", "burst"}}, "allowed": {op: n}, "throttled": {op: n}}``,
        counted for limited operations since the limits were last set or reset."""
        return self._request("GET", "limits")

    def set_logs(self, **settings: Unpack[LogOptions]) -> None:
        """Replace the CloudWatch Logs settings (omitted ones take their defaults, which
        change nothing: ``set_logs()`` restores them).

        :param empty_pages: FilterLogEvents pages, as its API reference allows ("A returned
            page might only be partially full, or even empty"): each pass (a request
            without ``nextToken``) first gets this many empty pages with a ``nextToken``
            (default 0).
        :param page_events: at most this many events per FilterLogEvents page, fewer than
            the request's ``limit`` (default ``None``: the ``limit``). With either paging
            setting on, the page with the last events also carries a ``nextToken``, which
            then gets an empty page without one; a pass still yields every event once, in
            order.
        :param late_lines: how many of each log stream's last lines arrive late (default 3).
        :param late_lines_after: seconds after the job's final status (as DescribeTrainingJob
            and ListTrainingJobs report it) that those lines are written, with their own
            timestamps (default 0: with the status).
        """
        self._request("POST", "logs", dict(settings))

    def log_settings(self) -> dict[str, Any]:
        """``{"empty_pages", "page_events", "late_lines", "late_lines_after"}``: the
        CloudWatch Logs settings now."""
        return self._request("GET", "logs")

    def set_quotas(self, quotas: dict[str, int]) -> None:
        """Replace the account's instance quotas for training job usage (``{}`` removes them).

        A ``CreateTrainingJob`` whose instances of a type, added to those its Region's jobs
        ``InProgress`` or ``Stopping`` use, exceed that type's quota is answered 400
        ``ResourceLimitExceeded`` ("The account-level service limit '<type> for training
        job usage' is <quota> Instances, with current utilization of <n> Instances and a
        request delta of <m> Instances. ...") and creates nothing. A job that ends frees its
        instances. Instances are ``ResourceConfig.InstanceCount`` of its ``InstanceType``,
        plus those of its ``InstanceGroups``. Each Region counts its own jobs against the
        same values. Setting quotas zeroes ``refused`` and starts ``peak_in_use``.

        :param quotas: ``{instance type: instances}``, e.g. ``{"ml.p3.2xlarge": 4}``; 0
            refuses every job of that type. Types must be training instance types.
        """
        self._request("POST", "quotas", dict(quotas))

    def quotas(self, region: str = "us-east-1") -> dict[str, Any]:
        """``{"quotas", "in_use", "refused", "peak_in_use"}``, each ``{instance type: n}``.

        ``in_use``: instances of the Region's jobs ``InProgress`` or ``Stopping`` now;
        ``refused``: creates answered ``ResourceLimitExceeded``, and ``peak_in_use``: the
        most instances in use at once (as of each create), both since quotas were last set
        (``set_quotas({})`` starts counting without any limit; reset stops it).
        """
        route = "quotas?" + urllib.parse.urlencode({"region": region})
        return self._request("GET", route)

    def add_capacity_failure(
        self,
        name_prefix: str,
        count: int | None = 1,
        after: float | None = None,
        reason: str = "CapacityError",
    ) -> None:
        """Fail the next ``count`` jobs created whose names start with ``name_prefix`` for
        want of capacity: each is created, stays ``InProgress`` / ``Starting`` for ``after``
        seconds, then ends ``Failed`` without ever training (no ``TrainingStartTime``, no
        billable time, no logs). Later jobs keep their plan, so a retry under a new name
        succeeds. The newest matching failure applies first, over :meth:`add_rule` plans.

        :param name_prefix: job-name prefix ("" matches every job).
        :param count: how many jobs to fail; ``None`` fails every matching job.
        :param after: seconds before the failure; ``None``: the job's planned duration.
        :param reason: ``"CapacityError"``: ``FailureReason`` "CapacityError: Unable to
            provision requested ML compute capacity. Please retry using a different ML
            instance type." (while starting: "Insufficient capacity error from EC2 while
            launching instances, retrying!"); ``"InternalServerError"``: "InternalServerError:
            We encountered an internal error. Please try again."
        """
        failure = {"name_prefix": name_prefix, "count": count, "after": after, "reason": reason}
        self._request("POST", "capacity_failures", failure)

    def capacity_failures(self) -> list[dict[str, Any]]:
        """The capacity failures added since the last reset, oldest first: ``name_prefix``,
        ``count``, ``after``, ``reason``, ``failure_reason`` (the text), ``remaining``
        (``None`` for every job) and ``failed`` (the jobs failed so far)."""
        answer = self._request("GET", "capacity_failures")
        return cast("list[dict[str, Any]]", answer["capacity_failures"])

    def seed_history(
        self,
        count: int,
        created_from: float | None = None,
        created_to: float | None = None,
        prefix: str = "history",
        failed_fraction: float = 0.1,
        stopped_fraction: float = 0.05,
    ) -> int:
        """Add ``count`` jobs that finished in the past, as an account's history; returns
        how many were added. They are created straight into the store (no calls counted, no
        log streams), named ``f"{prefix}-{i:06d}"`` oldest first, evenly over the span.

        :param created_from: epoch seconds of the oldest (default: 30 days before
            ``created_to``).
        :param created_to: epoch seconds of the newest (default: an hour ago; not after now).
        :param prefix: the names' prefix; a name already taken refuses the whole history.
        :param failed_fraction: share of ``Failed`` jobs; the rest are ``Completed``...
        :param stopped_fraction: ...but for this share of ``Stopped`` ones.
        """
        spec: dict[str, Any] = {
            "count": count,
            "prefix": prefix,
            "failed_fraction": failed_fraction,
            "stopped_fraction": stopped_fraction,
        }
        if created_from is not None:
            spec["created_from"] = created_from
        if created_to is not None:
            spec["created_to"] = created_to
        # Seeding is quick (50,000 jobs in about half a second), but allow for slow machines.
        answer = self._request("POST", "history", spec, timeout=max(self.timeout, 60.0))
        return int(answer["created"])

    def _request(
        self,
        method: str,
        route: str,
        payload: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.endpoint_url}{CONTROL_PATH}/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                return cast("dict[str, Any]", json.loads(response.read()))
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise SimulatorControlError(f"{method} {route}: HTTP {err.code}: {detail}") from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise SimulatorControlError(f"{method} {route}: {err}") from err
