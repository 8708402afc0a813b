"""The one adapter to the Kubernetes API, on kubernetes_asyncio.

Objects travel as plain dicts (the wire form): the operator renders dicts, compares dicts
and patches with dicts, so the client's generated model classes would only add copies.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from skybots import __version__, bots

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = f"skybots/{__version__}"
API_USER_AGENT = f"skybots-api/{__version__}"


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


BOT = Kind(bots.GROUP, bots.VERSION, bots.PLURAL, bots.KIND)
CONFIG_MAP = Kind("", "v1", "configmaps", "ConfigMap")
SECRET = Kind("", "v1", "secrets", "Secret")
POD = Kind("", "v1", "pods", "Pod")
EVENT = Kind("", "v1", "events", "Event")
CRON_JOB = Kind("batch", "v1", "cronjobs", "CronJob")
JOB = Kind("batch", "v1", "jobs", "Job")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class KubernetesError(Exception):
    """A request the API server refused; `status` is the HTTP status, `reason` its Status reason,
    `causes` the (field, message) pairs of its details (a 422 names each refused field there)."""

    def __init__(
        self, status: int, reason: str, message: str, causes: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message, self.causes = status, reason, message, causes


class NotFound(KubernetesError):
    """404: the object (or its kind) does not exist."""


class Conflict(KubernetesError):
    """409: the name is taken, or the object changed since the resourceVersion we sent."""


def _error(exc: ApiException) -> KubernetesError:
    try:
        status = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        status = {}
    reason = status.get("reason") or str(exc.reason or "")
    message = status.get("message") or str(exc.body or exc.reason or "")
    causes = tuple(
        (str(cause.get("field") or ""), str(cause.get("message") or ""))
        for cause in (status.get("details") or {}).get("causes") or []
    )
    kind = NotFound if exc.status == 404 else Conflict if exc.status == 409 else KubernetesError
    return kind(int(exc.status or 0), reason, message, causes)


@dataclass(frozen=True)
class Connection:
    """How to reach the API server; also what Kopf's login handler hands to Kopf."""

    server: str
    ca_path: str | None = None
    token: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    insecure: bool = False


async def load_configuration(server: str | None = None) -> client.Configuration:
    """An explicit server (no auth, for tests), else in-cluster config, else the kubeconfig."""
    configuration = client.Configuration()
    if server:
        configuration.host = server.rstrip("/")
    elif "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(client_configuration=configuration)
    return configuration


async def current_connection(server: str | None = None) -> Connection:
    """Credentials as they are now (in-cluster tokens rotate): what Kopf's login handler returns."""
    configuration = await load_configuration(server)
    token = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
        "BearerToken"
    )
    if token and token.lower().startswith("bearer "):
        token = token[len("bearer ") :]
    return Connection(
        server=str(configuration.host),
        ca_path=configuration.ssl_ca_cert,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        insecure=not configuration.verify_ssl,
    )


class KubernetesApi(Protocol):
    """What the API and the operator ask of an API server: `Kubernetes` in a cluster, `LocalKubernetes` without one."""

    async def close(self) -> None: ...

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]: ...

    async def list(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]: ...

    async def snapshot(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str]: ...

    def watch(
        self,
        kind: Kind,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    async def delete(self, kind: Kind, namespace: str, name: str) -> None: ...


class Kubernetes:
    """Typed-by-Kind access to the API server; every method raises KubernetesError subclasses."""

    def __init__(self, configuration: client.Configuration, user_agent: str = USER_AGENT) -> None:
        self._api = client.ApiClient(configuration)
        self._api.user_agent = user_agent  # names the operator or the API in audit logs

    @classmethod
    async def connect(cls, server: str | None = None, user_agent: str = USER_AGENT) -> Kubernetes:
        return cls(await load_configuration(server), user_agent)

    async def close(self) -> None:
        await self._api.close()

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        return await self._call("GET", kind.path(namespace, name))

    async def list(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return (await self.snapshot(kind, namespace, label_selector))[0]

    async def snapshot(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """The objects, and the resourceVersion to watch from for what happens after."""
        query = {"labelSelector": label_selector} if label_selector else None
        answer = await self._call("GET", kind.path(namespace), query=query)
        return list(answer.get("items", [])), str(answer.get("metadata", {}).get("resourceVersion", ""))

    async def watch(
        self,
        kind: Kind,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events ({type, object}) after `resource_version`, until the server ends the stream.

        A 410 Gone (the version is too old) raises KubernetesError: list again, then watch.
        """
        query = {"watch": "true", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds)}
        if label_selector:
            query["labelSelector"] = label_selector
        try:
            response = await self._api.call_api(
                kind.path(namespace),
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout_seconds + 30,
            )
        except ApiException as exc:
            raise _error(exc) from None
        try:
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise KubernetesError(
                        int(status.get("code", 500)),
                        str(status.get("reason", "")),
                        str(status.get("message", "")),
                    )
                yield event
        finally:
            response.release()

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        """Delete in the background: owned objects go with it (ownerReferences)."""
        await self._call("DELETE", kind.path(namespace, name), body={"propagationPolicy": "Background"})

    async def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", kind.path(namespace), body=body)

    async def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): lists are replaced whole, null removes a key."""
        return await self._call(
            "PATCH", kind.path(namespace, name, subresource), body=body, content_type=MERGE_PATCH
        )

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        try:
            result = await self._api.call_api(
                path,
                method,
                query_params=query,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise _error(exc) from None
        return dict(result or {})


def timestamp(moment: datetime) -> str:
    """A time as the API server writes it: RFC 3339 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def follow(
    kube: KubernetesApi,
    kind: Kind,
    namespace: str,
    *,
    listed: Callable[[builtins.list[dict[str, Any]]], Awaitable[None]],
    changed: Callable[[str, dict[str, Any]], Awaitable[None]],
    label_selector: str | None = None,
    resource_version: str = "",
    timeout_seconds: int = 300,
) -> None:
    """Keep up with every object of a kind, for ever, as an informer does.

    List (`listed` gets the objects), then watch from the list's resourceVersion (`changed` gets
    each ADDED, MODIFIED or DELETED). A watch the server ends after its timeout resumes where it
    was; one it refuses (410: too old) or loses lists again, after a growing pause when the server
    cannot be reached. `resource_version` starts from a list the caller has made already.
    """
    version, backoff = resource_version, 1.0
    while True:
        try:
            if not version:
                objects, version = await kube.snapshot(kind, namespace, label_selector)
                await listed(objects)
            async for event in kube.watch(
                kind,
                namespace,
                resource_version=version,
                label_selector=label_selector,
                timeout_seconds=timeout_seconds,
            ):
                obj = event.get("object", {})
                version = str(obj.get("metadata", {}).get("resourceVersion", version))
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    await changed(str(event["type"]), obj)
            backoff = 1.0
        except KubernetesError as error:
            log.warning("%s watch ended (%s); listing again", kind.kind, error)
            version = ""
        except (TimeoutError, OSError) as error:
            log.warning("%s watch lost (%s); listing again in %.0f s", kind.kind, error, backoff)
            version = ""
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30)
