"""A Kubernetes API server for tests: kmock's KubernetesEmulator with the semantics our operator relies on.

CI has no cluster, so this is the most real counterpart the operator can talk to. kmock serves
discovery, routing and an in-memory object store; `ClusterEmulator` adds what a real API server
does and kmock does not:

- server-owned metadata: `uid`, `creationTimestamp`, one cluster-wide `resourceVersion` counter
  bumped on every write, `generation` (1 on create, +1 when the spec changes), `generateName`;
- the status subresource (for resources whose discovery lists `status`): status is dropped on
  create and ignored by writes to the main resource; writes to `/status` change only status;
- merge, JSON (RFC 6902, with `test`) and strategic-merge patches, PUT, optimistic concurrency
  (a stale `metadata.resourceVersion` gets 409 Conflict), Status bodies shaped like the real ones;
- label and field selectors on list and watch; watches that resume after `resourceVersion`
  (from an event log, so nothing is replayed twice) and end after `timeoutSeconds`;
- finalizers, and garbage collection of dependents through `ownerReferences`;
- admission of Bots against the committed CRD: its defaults are stored, invalid objects get 422.

Every change happens in the emulator's fallback handlers, so a request a test answers itself
with a kmock reaction changes nothing, as with a request a real server refuses. That is how a
test injects faults, with kmock's own DSL; `upcoming()` points a reaction at the next requests::

    upcoming(cluster['post', CRONJOBS]) << internal_error('etcdserver: request timed out')
    upcoming(cluster['patch', BOTS, kmock.subresource('status')], 2) << conflict(BOTS, 'news')
    upcoming(cluster['delete', CONFIGMAPS, kmock.name('bot-news')]) << 500

Simplifications, each chosen because the operator cannot tell: strategic merge patches of
built-in objects merge like JSON merge patches (lists are replaced, not merged by key); deletes
propagate in the background, synchronously, and dependents with several owners are deleted with
the first; no namespace has to exist; the event log is never compacted (no 410 Gone); creates
answer 200, not 201.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import datetime
import functools
import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml

from skybots.stores.kubernetes import merge_patch, timestamp
from tests.support.crd_validation import CrdValidator

BOTS = kmock.resource("skybots.dev", "v1alpha1", "bots")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
SECRETS = kmock.resource("", "v1", "secrets")
EVENTS = kmock.resource("", "v1", "events")
PODS = kmock.resource("", "v1", "pods")
JOBS = kmock.resource("batch", "v1", "jobs")
CRONJOBS = kmock.resource("batch", "v1", "cronjobs")

Result = TypeVar("Result")

CRDS = Path(__file__).resolve().parents[2] / "crds"
# The verbs Kopf needs to see in discovery before it serves a resource; deletecollection is not emulated.
CUSTOM_RESOURCE_VERBS = {"list", "watch", "get", "patch", "create", "delete", "update"}

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# Metadata the server sets: a create cannot set it, an update cannot change it.
SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)
GENERATED_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server's name generator uses


class ApiError(Exception):
    """A refusal as the API server words it: an HTTP code and a `Status` body.

    Raise it in the emulator, or feed it to a reaction to inject a fault: `view << conflict(...)`.
    """

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @property
    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def group_resource(resource: kmock.resource) -> str:
    """How messages name a resource: `bots.skybots.dev`, or `configmaps` in the core group."""
    return f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)


def _details(resource: kmock.resource, name: str, kind: str | None = None) -> dict[str, Any]:
    details = {"name": name, "group": resource.group, "kind": kind or resource.plural}
    return {key: value for key, value in details.items() if value}


def not_found(resource: kmock.resource, name: str) -> ApiError:
    message = f'{group_resource(resource)} "{name}" not found'
    return ApiError(404, "NotFound", message, _details(resource, name))


def no_such_endpoint() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource: kmock.resource, name: str) -> ApiError:
    message = f'{group_resource(resource)} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(resource, name))


def conflict(resource: kmock.resource, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {group_resource(resource)} "{name}": the object has been'
        " modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(resource, name))


def invalid(resource: kmock.resource, kind: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 for (reason, field, message) causes, e.g. ('FieldValueRequired', 'spec.x', 'Required value')."""
    group_kind = f"{kind}.{resource.group}" if resource.group else kind
    errors = [f"{field}: {message}" for _, field, message in causes]
    summary = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
    details = _details(resource, name, kind)
    details["causes"] = [
        {"reason": reason, "message": message, "field": field} for reason, field, message in causes
    ]
    return ApiError(422, "Invalid", f'{group_kind} "{name}" is invalid: {summary}', details)


def unprocessable() -> ApiError:
    """What a JSON patch that cannot apply (a failed `test` op included) gets: Kopf expects 422."""
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def internal_error(message: str) -> ApiError:
    return ApiError(
        500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
    )


def api_path(
    resource: kmock.resource,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The URL path of a collection, an object or its subresource."""
    root = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    scope = [f"namespaces/{namespace}"] if namespace else []
    return "/".join([root, *scope, str(resource.plural), *(part for part in (name, subresource) if part)])


def upcoming(view: kmock.View, count: int = 1) -> kmock.Slicer:
    """The next `count` requests `view` matches: kmock's slices count from the server's first request."""
    seen = len(view)
    return view[seen : seen + count]


class Rendezvous:
    """The worst interleaving for a check-then-act, on purpose: requests held at the emulator until
    each of the concurrent calls has either reached it or ended without it.

        rendezvous = Rendezvous()
        cluster["post", BOTS] << rendezvous.hold
        responses = await rendezvous.gather([client.post(...) for _ in range(25)])

    Without a reaction (LocalKubernetes is in-process), `gather` only runs the calls at once.
    """

    def __init__(self) -> None:
        self._expected = self._arrived = self._ended = 0
        self._everyone = asyncio.Event()

    def _check(self) -> None:
        if self._expected and self._arrived + self._ended >= self._expected:
            self._everyone.set()

    async def hold(self) -> None:
        """A kmock reaction that holds the request, then lets the emulator answer it."""
        self._arrived += 1
        self._check()
        await self._everyone.wait()

    async def gather(self, calls: list[Awaitable[Result]], *, seconds: float = 60) -> list[Result]:
        async def ended(call: Awaitable[Result]) -> Result:
            try:
                return await call
            finally:
                self._ended += 1
                self._check()

        self._expected = len(calls)
        return await asyncio.wait_for(asyncio.gather(*(ended(call) for call in calls)), seconds)


@dataclass(frozen=True)
class RbacTerm:
    """One request as an RBAC authorizer sees it; namespace None is a cluster-wide request."""

    verb: str
    api_group: str
    resource: str
    namespace: str | None


def rbac_terms(requests: Iterable[kmock.Request]) -> set[RbacTerm]:
    """What the recorded requests need from RBAC.

    Non-resource URLs (discovery: /api, /apis, /version) are left out: every authenticated
    user may read them through the `system:discovery` ClusterRole. To leave out the test's own
    requests, pass only Kopf's: `cluster[kmock.headers({"User-Agent": re.compile(r"kopf/.*")})]`.
    """
    terms = set()
    for request in requests:
        if request.resource is None or request.resource.plural is None:
            continue
        match request.action, request.method.value:
            case kmock.action.WATCH, _:
                verb = "watch"
            case kmock.action.LIST, _:
                verb = "list"
            case kmock.action.FETCH, _:
                verb = "get"
            case _, "DELETE":
                verb = "delete" if request.name else "deletecollection"
            case _, method:
                verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]
        plural = request.resource.plural
        resource = f"{plural}/{request.subresource}" if request.subresource else plural
        terms.add(RbacTerm(verb, str(request.resource.group), resource, request.namespace))
    return terms


@dataclass(frozen=True)
class Requirement:
    """One term of a label or field selector, applied to a flat str->str mapping."""

    key: str
    operator: str  # one of: = != in notin exists !
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return value is not None
            case "!":
                return value is None
            case "=" | "in":
                return value in self.values
            case _:  # != and notin also match objects without the label, as in Kubernetes
                return value not in self.values


_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_LABEL_REQUIREMENT = re.compile(
    rf"(?P<absent>!)\s*(?P<akey>{_LABEL_KEY})"
    rf"|(?P<skey>{_LABEL_KEY})\s+(?P<setop>in|notin)\s+\((?P<values>[^()]*)\)"
    rf"|(?P<ekey>{_LABEL_KEY})\s*(?P<eqop>==|=|!=)\s*(?P<value>{_LABEL_VALUE})"
    rf"|(?P<key>{_LABEL_KEY})"
)
_FIELD_REQUIREMENT = re.compile(r"(?P<key>[^\s=!,]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s=!,]*)")
SELECTABLE_FIELDS = ("metadata.name", "metadata.namespace")


def _split_terms(selector: str) -> list[str]:
    """Split on the commas that separate requirements, not on those inside `in (a,b)`."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:index])
            start = index + 1
    return [*terms, selector[start:]]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector):
        found = _LABEL_REQUIREMENT.fullmatch(term.strip())
        if not found:
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")
        if found["absent"]:
            requirements.append(Requirement(found["akey"], "!"))
        elif found["setop"]:
            values = frozenset(value.strip() for value in found["values"].split(","))
            requirements.append(Requirement(found["skey"], found["setop"], values))
        elif found["eqop"]:
            operator = "!=" if found["eqop"] == "!=" else "="
            requirements.append(Requirement(found["ekey"], operator, frozenset([found["value"]])))
        else:
            requirements.append(Requirement(found["key"], "exists"))
    return requirements


def parse_field_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in selector.split(","):
        found = _FIELD_REQUIREMENT.fullmatch(term.strip())
        if not found:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        if found["key"] not in SELECTABLE_FIELDS:
            raise bad_request(f"field label not supported: {found['key']}")
        operator = "!=" if found["op"] == "!=" else "="
        requirements.append(Requirement(found["key"], operator, frozenset([found["value"]])))
    return requirements


@dataclass(frozen=True)
class Selector:
    """Which objects a list or watch request sees: namespace, labelSelector, fieldSelector."""

    namespace: str | None
    labels: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]

    @classmethod
    def of(cls, request: kmock.Request) -> Selector:
        labels = (
            parse_label_selector(request.params["labelSelector"])
            if request.params.get("labelSelector")
            else []
        )
        fields = (
            parse_field_selector(request.params["fieldSelector"])
            if request.params.get("fieldSelector")
            else []
        )
        if request.name is not None:  # a watch of one object
            fields.append(Requirement("metadata.name", "=", frozenset([request.name])))
        return cls(request.namespace, tuple(labels), tuple(fields))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        fields = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
        labels = meta.get("labels") or {}
        return all(r.matches(labels) for r in self.labels) and all(r.matches(fields) for r in self.fields)


@dataclass(frozen=True)
class Change:
    """One write in the event log: what a watcher of `resource` may be told about."""

    revision: int
    resource: kmock.resource
    type: str  # ADDED, MODIFIED or DELETED
    old: dict[str, Any] | None  # the object before a MODIFIED change
    new: dict[str, Any]

    def event_for(self, selector: Selector) -> dict[str, Any] | None:
        """As the watch cache does: an object that starts or stops matching is ADDED or DELETED."""
        now = selector.matches(self.new)
        before = self.old is not None and selector.matches(self.old)
        if self.type == "MODIFIED":
            kind = "MODIFIED" if before and now else "ADDED" if now else "DELETED" if before else None
        else:
            kind = self.type if now else None
        return None if kind is None else {"type": kind, "object": self.new}


def _now() -> str:
    return timestamp(datetime.datetime.now(datetime.UTC))


def _spec_of(obj: Mapping[str, Any], info: kmock.ResourceInfo) -> dict[str, Any]:
    """Everything whose change bumps metadata.generation: all but metadata and a status subresource."""
    ignored = ("metadata", "status") if "status" in info.subresources else ("metadata",)
    return {key: value for key, value in obj.items() if key not in ignored}


def _with_status_of(obj: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with the status of `source`, or with none if `source` has none."""
    result = {key: copy.deepcopy(value) for key, value in obj.items() if key != "status"}
    if "status" in source:
        result["status"] = copy.deepcopy(source["status"])
    return result


def _content_type(request: kmock.Request) -> str:
    value = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def json_patch(target: dict[str, Any], operations: Any) -> Any:
    """RFC 6902; malformed operations are 400, operations that cannot apply (a failed test) 422."""
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, TypeError) as error:
        raise bad_request(str(error)) from error
    try:
        return patch.apply(target)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
        raise unprocessable() from error


@dataclass(frozen=True)
class CustomResource:
    """One served version of a CRD: what discovery says about it, and the admission of its objects."""

    resource: kmock.resource
    info: dict[str, Any]  # kmock.ResourceInfo's fields: each emulator gets its own (they are mutable)
    validator: CrdValidator

    @classmethod
    def served_by(cls, crd: dict[str, Any]) -> list[CustomResource]:
        spec, names = crd["spec"], crd["spec"]["names"]
        return [
            cls(
                resource=kmock.resource(spec["group"], version["name"], names["plural"]),
                info={
                    "namespaced": spec["scope"] == "Namespaced",
                    "kind": names["kind"],
                    "singular": names.get("singular"),
                    "verbs": CUSTOM_RESOURCE_VERBS,
                    "shortnames": names.get("shortNames", ()),
                    "categories": names.get("categories", ()),
                    "subresources": version.get("subresources", {}).keys(),
                },
                validator=CrdValidator(crd, version["name"]),
            )
            for version in spec["versions"]
            if version["served"]
        ]


# The committed CRDs, parsed once: their validators compile and keep CEL programs for every test.
CUSTOM_RESOURCES = [
    custom
    for path in sorted(CRDS.glob("*.yaml"))
    if path.name != "kustomization.yaml"
    for custom in CustomResource.served_by(yaml.safe_load(path.read_text()))
]


def _sees(view: kmock.View, request: kmock.Request) -> bool:
    """`request in view`, without replaying the history where the view is a chain of filters."""
    while isinstance(view, kmock.Filter | kmock.Priority):
        if isinstance(view, kmock.Filter) and not view.criteria(request):
            return False
        view = view._source
    return isinstance(view, kmock.Root) or request in view


@attrs.define(kw_only=True)
class ClusterEmulator(kmock.KubernetesEmulator):
    """kmock's emulator made to answer like a real API server; see the module's docstring."""

    _revision: int = attrs.field(default=0, init=False)
    _log: list[Change] = attrs.field(factory=list, init=False)
    # Guards the store and the log; watchers wait on it for new changes.
    _changed: asyncio.Condition = attrs.field(factory=asyncio.Condition, init=False)
    _validators: dict[kmock.resource, CrdValidator] = attrs.field(factory=dict, init=False)
    _held: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Event]] = attrs.field(
        factory=list, init=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback[kmock.method.PUT] << self._serve_replace
        self.resources.load_bundled()
        for custom in CUSTOM_RESOURCES:
            self.declare(custom)

    def declare(self, custom: CustomResource) -> None:
        """Serve a custom resource as the API server does once its CRD is installed."""
        self.resources[custom.resource] = kmock.ResourceInfo(**custom.info)
        self._validators[custom.resource] = custom.validator

    def hold_events(self, matches: Callable[[dict[str, Any]], bool]) -> asyncio.Event:
        """Watch events `matches` picks wait, on every watch, until the returned event is set:
        a watch that lags behind a write, on purpose (the write itself is answered at once)."""
        release = asyncio.Event()
        self._held.append((matches, release))
        return release

    @property
    def crashes(self) -> list[Exception]:
        """Exceptions that were not API answers: bugs in the emulator or in a test's reaction."""
        return [e for e in self.errors if not isinstance(e, ApiError | kmock.KubernetesError)]

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """kmock's routing (highest priority first), minus its cost, and minus its store-first writes.

        KubernetesEmulator._handle is skipped: it stores writes before any reaction can refuse
        them. RawHandler._handle asks `request in view` of every reaction, which replays the
        whole request history through the view's filters: quadratic over a long run (the
        operator benchmark). `_sees()` answers the same in constant time for filter chains.
        """
        for payload in self._by_priority():
            if payload._disabled.is_set() or not _sees(payload._source, request):
                continue
            try:
                return await payload(request)
            except kmock.ReactionMismatchError:  # the reaction is depleted
                payload._disabled.set()
            except NotImplementedError:  # it matched, but has nothing to respond with
                pass
        raise NotImplementedError(f"no reaction serves {request.method} {request.url}")

    def _by_priority(self) -> list[kmock.Reaction]:
        """Reactions, highest priority first; shorter priority chains are padded with 0 (`fallback ** n`)."""
        depth = max((len(p.priorities) for p in self._payloads), default=0)
        return sorted(
            self._payloads, key=lambda p: tuple(-x for x in p.priorities) + (0,) * (depth - len(p.priorities))
        )

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, ApiError):
            return aiohttp.web.json_response(exc.status, status=exc.code)
        return await super()._render_error(exc)

    # Reading.

    async def _serve_list(self, request: kmock.Request) -> dict[str, Any]:
        resource, info = self._target(request, collection=True)
        selector = Selector.of(request)
        async with self._changed:
            items = sorted(
                (obj for res, obj in self._live() if res == resource and selector.matches(obj)),
                key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]),
            )
            version = str(self._revision)
        return {
            "apiVersion": self._api_version(resource),
            "kind": f"{info.kind}List",
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        # Refusals must come before the first chunk to be sent as HTTP errors.
        resource, _ = self._target(request, collection=request.name is None)
        selector = Selector.of(request)
        since = request.params.get("resourceVersion", "")
        timeout = request.params.get("timeoutSeconds")
        if not (since.isdigit() or since == "") or not (timeout is None or timeout.isdigit()):
            raise bad_request("resourceVersion and timeoutSeconds must be non-negative integers")
        deadline = None if not timeout else asyncio.get_running_loop().time() + int(timeout)
        async with self._changed:
            if since in ("", "0"):  # start now: the current objects first, as ADDED
                initial = [
                    {"type": "ADDED", "object": obj}
                    for res, obj in self._live()
                    if res == resource and selector.matches(obj)
                ]
                position = len(self._log)
            else:
                initial = []
                position = bisect.bisect_right(self._log, int(since), key=lambda change: change.revision)
        yield b""  # send the headers now: clients wait for them before reading events
        for event in initial:
            yield event
        while True:
            async with self._changed:
                try:
                    async with asyncio.timeout_at(deadline):
                        while len(self._log) <= position:
                            await self._changed.wait()
                except TimeoutError:
                    return
                changes, position = self._log[position:], len(self._log)
            for change in changes:
                seen = change.event_for(selector) if change.resource == resource else None
                if seen is not None:
                    for matches, release in self._held:
                        if matches(seen):
                            await release.wait()
                    yield seen

    async def _serve_fetch(self, request: kmock.Request) -> dict[str, Any]:
        resource, _ = self._target(request)
        async with self._changed:
            return self._existing(resource, request)

    # Writing.

    async def _serve_create(self, request: kmock.Request) -> dict[str, Any]:
        resource, info = self._target(request, collection=True, write=True)
        if not isinstance(request.data, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(request.data)
        meta = obj.setdefault("metadata", {})
        if request.namespace is None:  # a cluster-scoped object has no namespace, whatever the body says
            meta.pop("namespace", None)
        elif meta.setdefault("namespace", request.namespace) != request.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(GENERATED_NAME_ALPHABET, k=5))
        if not meta.get("name"):
            cause = (
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            )
            raise invalid(resource, str(info.kind), "", [cause])
        for key in SYSTEM_METADATA:
            meta.pop(key, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        obj.update(apiVersion=self._api_version(resource), kind=info.kind)
        if "status" in info.subresources:
            obj.pop("status", None)
        obj = self._admit(resource, info, obj)
        namespace, name = request.namespace, obj["metadata"]["name"]
        async with self._changed:
            if self._current(resource, namespace, name) is not None:
                raise already_exists(resource, name)
            return self._commit(resource, "ADDED", None, obj)

    async def _serve_update(self, request: kmock.Request) -> dict[str, Any]:
        resource, info = self._target(request, write=True)
        patch = self._patch_of(resource, request)
        async with self._changed:
            current = self._existing(resource, request)
            return self._update(resource, info, request.subresource, current, patch(copy.deepcopy(current)))

    async def _serve_replace(self, request: kmock.Request) -> dict[str, Any]:
        resource, info = self._target(request, write=True)
        if request.name is None or not isinstance(request.data, dict):
            raise bad_request("PUT needs an object's URL and the whole object as a JSON body")
        name = request.data.get("metadata", {}).get("name", request.name)
        if name != request.name:
            raise bad_request(
                f"the name of the object ({name}) does not match the name on the URL ({request.name})"
            )
        async with self._changed:
            current = self._existing(resource, request)
            return self._update(
                resource, info, request.subresource, current, copy.deepcopy(request.data), replace=True
            )

    async def _serve_delete(self, request: kmock.Request) -> dict[str, Any]:
        resource, _ = self._target(request, write=True)
        options = request.data if isinstance(request.data, dict) else {}
        policy = options.get("propagationPolicy") or request.params.get("propagationPolicy")
        async with self._changed:
            current = self._existing(resource, request)
            if policy == "Orphan":
                self._orphan_dependents(current["metadata"]["uid"])
            return self._delete(resource, current)

    # The store. Methods below run with self._changed held.

    def _target(
        self, request: kmock.Request, *, collection: bool = False, write: bool = False
    ) -> tuple[kmock.resource, kmock.ResourceInfo]:
        """The resource a request is for, or the 404 a real server gives for a path it does not serve."""
        resource = request.resource
        if resource is None or resource.plural is None or resource not in self.resources:
            raise no_such_endpoint()
        info = self.resources[resource]
        scoped_right = (request.namespace is not None) == bool(info.namespaced)
        known_subresource = request.subresource is None or (
            request.subresource == "status" and "status" in info.subresources and not collection
        )
        if not known_subresource or (not scoped_right and (write or not collection)):
            raise no_such_endpoint()
        return resource, info

    def _patch_of(self, resource: kmock.resource, request: kmock.Request) -> Callable[[dict[str, Any]], Any]:
        """How the request's Content-Type says to apply its body; custom resources take no strategic merge."""
        custom = resource in self._validators
        content_type = _content_type(request)
        if content_type == JSON_PATCH:
            return functools.partial(json_patch, operations=request.data)
        if content_type == MERGE_PATCH or (content_type == STRATEGIC_MERGE_PATCH and not custom):
            if not isinstance(request.data, dict):
                raise bad_request("a merge patch must be a JSON object")
            return functools.partial(merge_patch, patch=request.data)
        accepted = ", ".join([JSON_PATCH, MERGE_PATCH] + ([] if custom else [STRATEGIC_MERGE_PATCH]))
        message = (
            f"the body of the request was in an unknown format - accepted media types include: {accepted}"
        )
        raise ApiError(415, "UnsupportedMediaType", message, {})

    def _api_version(self, resource: kmock.resource) -> str:
        return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)

    def _live(self) -> Iterator[tuple[kmock.resource, dict[str, Any]]]:
        for (resource, _, _), obj in self._objects.items():
            if not obj.deleted:
                yield resource, obj.raw

    def _current(self, resource: kmock.resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (resource, namespace, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects[key].raw)

    def _existing(self, resource: kmock.resource, request: kmock.Request) -> dict[str, Any]:
        current = self._current(resource, request.namespace, str(request.name))
        if current is None:
            raise not_found(resource, str(request.name))
        return current

    def _admit(
        self, resource: kmock.resource, info: kmock.ResourceInfo, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """Defaults and validation from the CRD, for custom resources; built-in kinds pass as they are."""
        validator = self._validators.get(resource)
        if validator is None:
            return obj
        admitted, errors = validator.admit(obj)
        if errors:
            causes = [
                ("FieldValueRequired" if message == "Required value" else "FieldValueInvalid", field, message)
                for field, message in errors
            ]
            raise invalid(resource, str(info.kind), obj["metadata"]["name"], causes)
        return admitted

    def _update(
        self,
        resource: kmock.resource,
        info: kmock.ResourceInfo,
        subresource: str | None,
        current: dict[str, Any],
        proposed: Any,
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Store `proposed` in place of `current` with the server's rules for what a write may change."""
        name = current["metadata"]["name"]
        if not isinstance(proposed, dict) or not isinstance(proposed.get("metadata", {}), dict):
            raise unprocessable()
        version = proposed.get("metadata", {}).get("resourceVersion")
        if version is None and replace and resource in self._validators:
            message = "Invalid value: 0x0: must be specified for an update"
            raise invalid(
                resource, str(info.kind), name, [("FieldValueInvalid", "metadata.resourceVersion", message)]
            )
        if version is not None and version != current["metadata"]["resourceVersion"]:
            raise conflict(resource, name)

        if subresource == "status":  # only the status changes
            updated = _with_status_of(current, proposed)
        elif "status" in info.subresources:  # anything but the status changes
            updated = _with_status_of(proposed, current)
        else:
            updated = proposed
        meta = updated.setdefault("metadata", {})
        for key in ("name", "namespace", *SYSTEM_METADATA):
            meta.pop(key, None)
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
        updated.update(apiVersion=current["apiVersion"], kind=current["kind"])

        added = set(meta.get("finalizers", [])) - set(current["metadata"].get("finalizers", []))
        if added and "deletionTimestamp" in meta:
            message = f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {sorted(added)}"
            raise invalid(
                resource, str(info.kind), name, [("FieldValueForbidden", "metadata.finalizers", message)]
            )
        updated = self._admit(resource, info, updated)
        if _spec_of(updated, info) != _spec_of(current, info):
            updated["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
        if updated == current:
            return current  # a no-op write changes nothing: no new resourceVersion, no event
        stored = self._commit(resource, "MODIFIED", current, updated)
        if "deletionTimestamp" in stored["metadata"] and not stored["metadata"].get("finalizers"):
            self._remove(resource, stored)
        return stored

    def _delete(self, resource: kmock.resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Remove an object, or with finalizers left, mark it as being deleted (bumping its generation)."""
        meta = obj["metadata"]
        if not meta.get("finalizers"):
            return self._remove(resource, obj)
        if "deletionTimestamp" in meta:
            return obj
        marked = copy.deepcopy(obj)
        marked["metadata"].update(
            deletionTimestamp=_now(), deletionGracePeriodSeconds=0, generation=meta.get("generation", 0) + 1
        )
        return self._commit(resource, "MODIFIED", obj, marked)

    def _remove(self, resource: kmock.resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Remove an object for good, then its dependents, as the garbage collector would."""
        removed = self._commit(resource, "DELETED", None, copy.deepcopy(obj))
        for dependent_resource, dependent in self._dependents(obj["metadata"]["uid"]):
            self._delete(dependent_resource, dependent)
        return removed

    def _orphan_dependents(self, uid: str) -> None:
        for resource, dependent in self._dependents(uid):
            orphan = copy.deepcopy(dependent)
            owners = [ref for ref in orphan["metadata"]["ownerReferences"] if ref.get("uid") != uid]
            orphan["metadata"]["ownerReferences"] = owners
            if not owners:
                del orphan["metadata"]["ownerReferences"]
            self._commit(resource, "MODIFIED", dependent, orphan)

    def _dependents(self, uid: str) -> list[tuple[kmock.resource, dict[str, Any]]]:
        return [
            (resource, copy.deepcopy(obj))
            for resource, obj in self._live()
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))
        ]

    def _commit(
        self, resource: kmock.resource, kind: str, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> dict[str, Any]:
        """Write with the next resourceVersion, keep kmock's history, and tell the watchers."""
        self._revision += 1
        new["metadata"]["resourceVersion"] = str(self._revision)
        key = (resource, new["metadata"].get("namespace"), new["metadata"]["name"])
        if key in self._objects:
            self._objects[key].history.append(new)
        else:
            self._objects[key] = new
        if kind == "DELETED":
            self._objects[key].delete()
        self._log.append(Change(self._revision, resource, kind, old, copy.deepcopy(new)))
        self._changed.notify_all()
        return copy.deepcopy(new)
