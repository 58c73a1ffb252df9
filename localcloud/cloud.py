"""The embedded local cloud: a moto server (every AWS API on one port, Step Functions
executing definitions), the local Lambda runtime, the scheduler, and a few local-only routes
under `/_localcloud/` (health, fault injection, retry waits, asynchronous deliveries,
schedules, statistics) and `/_api/` (the deployed API Gateway REST API, also reached by its
execute-api host name: localcloud.services.apigateway.rest_api)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from localcloud.services.apigateway import rest_api as apigw
from localcloud.services.awslambda import adapter as lambda_adapter
from localcloud.services.awslambda import interpreter
from localcloud.services.awslambda.runtime import LambdaRuntime
from localcloud.services.cloudfront import app_site
from localcloud.services.cloudwatch.alarms import AlarmEvaluator
from localcloud.services.cloudwatch.metrics import Metrics
from localcloud.services.events.scheduler import ScheduleError, Scheduler
from localcloud.services.iam import Iam, Principal
from localcloud.services.iam.requests import Call
from localcloud.services.s3 import adapter as s3_adapter
from localcloud.services.stepfunctions import adapter as stepfunctions_adapter

from . import PROJECT, persistence
from .faults import ApiFault, ApiFaults
from .services import adapters
from .tools import console, cost

DEFAULT_ACCOUNT = "123456789012"


class LocalCloud:
    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        state_dir: Path | None = None,
        retry_scale: float = 1.0,
        max_workers_per_function: int | None = None,
        enforce_iam: bool | None = None,
        alarm_interval: float = 60.0,
        fire_schedules: bool = True,
        saved_state: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._temp = None if state_dir else tempfile.TemporaryDirectory(prefix="localcloud-")
        self.state_dir = state_dir or Path(self._temp.name)  # type: ignore[union-attr]
        self.clock = adapters.RetryClock(scale=retry_scale)
        # Lambda's waits between tries of an asynchronous event (about 1 and 2 minutes), scaled alike.
        self.async_clock = adapters.AsyncClock(scale=retry_scale)
        # Schedules fire at their times unless off (the tests fire them on request).
        self.fire_schedules = fire_schedules
        self.scheduler = Scheduler(lambda_adapter.invoke_async)
        # Where S3 objects and DynamoDB items are kept across a restart (localcloud/persistence.py).
        self.saved_state = saved_state
        # Warm workers per function: as many as this machine has cores (at least 2). More only
        # start more processes (each imports its handler: a cold start's CPU) without doing
        # more work at once.
        self.max_workers = max_workers_per_function or max(2, os.cpu_count() or 2)
        # Functions and the state machine call AWS as their deployed roles (localcloud/services/iam);
        # on unless LOCALCLOUD_IAM=off.
        self.iam = Iam(enforce_iam)
        # What CloudWatch adds: the services' metrics, and alarms evaluated every `alarm_interval` s.
        self.metrics = Metrics()
        self.alarms = AlarmEvaluator(self.metrics, interval=alarm_interval)
        self.faults = ApiFaults(self.iam, lambda: self.runtime)
        self.runtime: LambdaRuntime | None = None
        self.meter: cost.Meter | None = None
        self.console: console.Console | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def console_url(self) -> str:
        return f"{self.endpoint}{console.PREFIX}"

    def start(self) -> LocalCloud:
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        # The functions' Python, fetched once per machine: without it nothing could run.
        try:
            interpreter.interpreter()
        except interpreter.RuntimeUnavailable as error:
            raise SystemExit(f"localcloud: {error}") from None
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        # moto's interpreter logs every caught state error (even an IsPresent check that is
        # false) with a traceback; executions report their errors through the API anyway.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # Bucket policies are not enforced locally (moto's CloudFormation skips them, saying so
        # on every deploy through its top-level logger; docs/fidelity.md says it once).
        logging.getLogger("moto").addFilter(_skip_bucket_policy_notice)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::S3::BucketPolicy")
        moto_app = DomainDispatcherApplication(create_backend_app)
        served = self._wsgi(self.iam.wrap(self.faults.wrap(moto_app)))
        self._server = make_server(self.host, self.port, served, threaded=True)
        self.port = self._server.server_port
        # moto's Step Functions interpreter calls the other services through this port.
        os.environ["MOTO_PORT"] = str(self.port)
        self.runtime = LambdaRuntime(self.state_dir, self.endpoint, self.max_workers, self.iam)
        # What each invocation and AWS request would cost on AWS (calibrated once per machine).
        self.meter = cost.Meter(cost.calibrate(PROJECT))
        self.runtime.observe(self.meter.invocation)
        self.iam.observe(self._meter_request)
        adapters.install(self.runtime, self.clock, self.async_clock)
        self.metrics.attach(self.runtime)
        stepfunctions_adapter.observe_executions(self.metrics.execution_event)
        self.alarms.attach()
        self.alarms.start()
        self.console = console.Console(self.client_environment(), self.meter)
        self._thread = threading.Thread(target=self._server.serve_forever, name="localcloud", daemon=True)
        self._thread.start()
        if self.fire_schedules:
            self.scheduler.start()
        return self

    def stop(self) -> None:
        self.alarms.stop()
        self.scheduler.stop()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        self.async_clock.stop()  # asynchronous events waiting to be tried again are dropped
        if self.runtime:
            self.runtime.stop()
        if self.saved_state and self._server:
            persistence.save(self.saved_state)
        if self._temp:
            self._temp.cleanup()

    def _meter_request(self, principal: Principal, call: Call, environ: dict[str, Any]) -> None:
        assert self.meter is not None
        units = None
        if call.service == "dynamodb":
            tables = [check.resource for check in call.checks]
            units = cost.dynamodb_units(call.operation, tables, int(environ.get("CONTENT_LENGTH") or 0))
        self.meter.request(call.service, call.operation, units)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client_environment(self) -> dict[str, str]:
        """What an AWS client (SDK, CLI, Serverless) needs in its environment to use this cloud."""
        return self.client_environment_for(self.endpoint)

    @staticmethod
    def client_environment_for(endpoint: str) -> dict[str, str]:
        """The same for a local cloud at `endpoint` (another process's). AWS CLI v1 reads
        only AWS_DEFAULT_REGION, the SDKs and CLI v2 AWS_REGION: both are set."""
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "localcloud",
            "AWS_SECRET_ACCESS_KEY": "localcloud",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    # -- local routes ---------------------------------------------------------------------
    def _wsgi(self, moto_app: Any) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/_localcloud/"):
                return self._control(Request(environ))(environ, start_response)
            if path.startswith(console.PREFIX) and self.console:
                return self.console.handle(Request(environ))(environ, start_response)
            if path.startswith(apigw.PREFIX):
                return apigw.handle(Request(environ), DEFAULT_ACCOUNT)(environ, start_response)
            if path.startswith(app_site.PREFIX):  # the photo app, from its bucket (docs/app.md)
                return app_site.handle(Request(environ), DEFAULT_ACCOUNT)(environ, start_response)
            api_id = apigw.api_of_host(environ.get("HTTP_HOST"))
            if api_id:  # the execute-api URL, as API Gateway routes it (by host)
                return apigw.handle(Request(environ), DEFAULT_ACCOUNT, api_id)(environ, start_response)
            return moto_app(environ, start_response)

        return app

    def _control(self, request: Request) -> Response:
        assert self.runtime is not None
        route = request.path.removeprefix("/_localcloud/")
        if route == "health":
            return _json({"status": "ok", "endpoint": self.endpoint})
        if route == "faults" and request.method == "POST":
            return self._inject(request.get_json())
        if route == "faults" and request.method == "DELETE":
            self.runtime.clear_faults()
            self.faults.clear()
            s3_adapter.clear_drops()
            return _json({"cleared": True})
        if route == "alarms" and request.method == "POST":
            # "Evaluate now" (optionally as at `at`, epoch seconds): the tests' alarm clock.
            at = (request.get_json(silent=True) or {}).get("at")
            return _json({"changes": self.alarms.evaluate(float(at) if at is not None else None)})
        if route == "retries":
            return _json({"waits": self.clock.take()})
        if route == "async":  # Lambda's asynchronous invocations: retry waits, destinations sent
            return _json({"waits": self.async_clock.take(), "deliveries": lambda_adapter.deliveries()})
        if route == "schedules" and request.method == "GET":
            return _json({"schedules": self.scheduler.list()})
        if route == "schedules/fire" and request.method == "POST":
            body = request.get_json()
            try:
                schedule = self.scheduler.find(str(body["name"]))
            except ScheduleError as error:
                return _json({"error": str(error)}, 404)
            wait = body.get("wait")
            results = self.scheduler.fire(schedule, datetime.now(UTC), float(wait) if wait else None)
            return _json({"fired": results})
        if route == "stats":
            stats = self.runtime.stats
            return _json(
                {
                    "invocations": dict(stats.invocations),
                    "workersStarted": dict(stats.workers_started),
                    "peakConcurrency": stats.peak_concurrency,
                }
            )
        return _json({"error": f"no route {request.path}"}, 404)

    def _inject(self, fault: dict[str, Any]) -> Response:
        """A fault in a function (`function`: its invocations fail with `error`; with `match`, only
        those whose event contains that text), an API call
        (`api`: an IAM action; `caller`, `resource`, `kill`, see localcloud/faults.py) or S3's
        notifications (`drop`: events for keys under this prefix are lost)."""
        assert self.runtime is not None
        times = int(fault.get("times", 1))
        message = fault.get("message", "injected")
        if "function" in fault:
            self.runtime.inject_fault(fault["function"], fault["error"], message, times, fault.get("match"))
        elif "api" in fault:
            api = ApiFault(
                fault["api"], fault.get("error", "InternalError"), message, times, fault.get("caller"),
                fault.get("resource"), bool(fault.get("kill")),
            )  # fmt: skip
            try:
                self.faults.inject(api)
            except ValueError as error:
                return _json({"error": str(error)}, 400)
        elif "drop" in fault:
            s3_adapter.drop_notifications(fault.get("bucket"), fault["drop"], times)
        else:
            return _json({"error": "a fault names a `function`, an `api` action or a `drop` prefix"}, 400)
        return _json({"injected": fault})


def _skip_bucket_policy_notice(record: logging.LogRecord) -> bool:
    return not (record.args and "AWS::S3::BucketPolicy" in record.args)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
