"""Starting and stopping the operator: its adapters, metrics server and Kopf."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import kopf
from prometheus_client import start_http_server

from skybots.operator.handlers import build_registry, kopf_settings
from skybots.operator.metrics import Metrics
from skybots.operator.reconcile import Operator
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import Kubernetes
from skybots.stores.runs import DynamoRunHistory


async def run_operator(
    settings: OperatorSettings,
    *,
    clusterwide: bool = False,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    create_tables: bool = False,
    kopf_overrides: kopf.OperatorSettings | None = None,
) -> Operator:
    """Run until stopped (a signal, or `stop_flag`); the Operator is returned for inspection.

    `kopf_overrides` replaces Kopf's settings (tests shorten its timeouts); by default they are
    `kopf_settings()`.
    """
    kube = await Kubernetes.connect(settings.kubernetes_server)
    history = DynamoRunHistory(
        settings.runs_table,
        region=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url,
        retention=timedelta(days=settings.run_history_days),
    )
    if create_tables:
        await asyncio.to_thread(history.ensure_table)
    operator = Operator(settings=settings, kube=kube, history=history, metrics=Metrics())
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(settings.metrics_port, registry=operator.metrics.registry)
    try:
        await kopf.operator(
            registry=build_registry(),
            settings=kopf_overrides or kopf_settings(),
            memo=operator,
            standalone=True,
            clusterwide=clusterwide,
            namespaces=[] if clusterwide else settings.namespaces,
            liveness_endpoint=settings.liveness_endpoint or None,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        if server is not None:
            server.shutdown()
        await kube.close()
    return operator
