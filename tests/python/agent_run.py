#!/usr/bin/env python3
"""Emit one realistic agent run with the real OpenTelemetry Python SDK and OTLP exporters.

The run follows the OpenTelemetry GenAI semantic conventions:

    invoke_agent planner
      chat gpt-4o              (decides to call a tool)
      execute_tool web_search
      chat gpt-4o              (writes the answer; a GenAI inference-details event is logged)

It is exported over OTLP/HTTP (protobuf) or OTLP/gRPC, optionally gzip-compressed. On success it
prints one JSON object describing what was sent (trace id, every span with its parent and the
agent kind Cairn should derive, the number of log records) and exits 0. If any export was not
acknowledged by the collector it prints the failures to stderr and exits 1.

Usage:
    agent_run.py --endpoint http://127.0.0.1:4318 --protocol http [--gzip]
    agent_run.py --endpoint http://127.0.0.1:4317 --protocol grpc [--gzip]
"""

import argparse
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


class Recording:
    """Wraps an exporter and remembers the result of every export call."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, batch):
        result = self.inner.export(batch)
        self.results.append(result)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True

    def failures(self):
        return [r for r in self.results if getattr(r, "name", str(r)) != "SUCCESS"]


def exporters(protocol, endpoint, gzip):
    endpoint = endpoint.rstrip("/")
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        compression = Compression.Gzip if gzip else Compression.NoCompression
        return (
            OTLPSpanExporter(endpoint=endpoint + "/v1/traces", compression=compression, timeout=10),
            OTLPLogExporter(endpoint=endpoint + "/v1/logs", compression=compression, timeout=10),
        )
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        target = endpoint.split("://", 1)[-1]
        return (
            OTLPSpanExporter(endpoint=target, insecure=True, compression=compression, timeout=10),
            OTLPLogExporter(endpoint=target, insecure=True, compression=compression, timeout=10),
        )
    raise SystemExit(f"unknown protocol {protocol!r}")


def hex_span(span):
    return format(span.get_span_context().span_id, "016x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--service-name", default="python-agent")
    args = parser.parse_args()

    span_exporter, log_exporter = exporters(args.protocol, args.endpoint, args.gzip)
    spans_out = Recording(span_exporter)
    logs_out = Recording(log_exporter)
    resource = Resource.create({"service.name": args.service_name, "deployment.environment": "test"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans_out))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_out))
    tracer = tracer_provider.get_tracer("cairn.tests.agent_run", "1.0.0")
    logger = logger_provider.get_logger("cairn.tests.agent_run", "1.0.0")

    sent = []

    def record(span, parent, kind):
        sent.append(
            {
                "span_id": hex_span(span),
                "parent_span_id": hex_span(parent) if parent is not None else None,
                "name": span.name,
                "kind": kind,
            }
        )

    with tracer.start_as_current_span(
        "invoke_agent planner",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "planner",
            "gen_ai.agent.id": "agent-planner-1",
            "gen_ai.conversation.id": "conv-42",
            "gen_ai.provider.name": "openai",
        },
    ) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.usage.input_tokens": 412,
                "gen_ai.usage.output_tokens": 37,
                "gen_ai.response.finish_reasons": ["tool_calls"],
            },
        ) as chat1:
            time.sleep(0.005)
        with tracer.start_as_current_span(
            "execute_tool web_search",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "web_search",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": "call_7f3a",
                "gen_ai.tool.call.arguments": json.dumps({"query": "tamper-evident audit logs"}),
                "gen_ai.tool.call.result": json.dumps({"hits": 3, "top": "RFC 6962"}),
            },
        ) as tool:
            time.sleep(0.005)
            tool.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 530,
                "gen_ai.usage.output_tokens": 121,
                "gen_ai.response.finish_reasons": ["stop"],
            },
        ) as chat2:
            time.sleep(0.005)
            logger.emit(
                event_name="gen_ai.client.inference.operation.details",
                body={"output": "Merkle trees make audit logs tamper-evident."},
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                },
            )

    record(root, None, "agent")
    record(chat1, root, "llm")
    record(tool, root, "tool")
    record(chat2, root, "llm")

    tracer_provider.shutdown()
    logger_provider.shutdown()

    failures = spans_out.failures() + logs_out.failures()
    if failures or not spans_out.results or not logs_out.results:
        print(
            f"exports not acknowledged: spans {spans_out.results} logs {logs_out.results}",
            file=sys.stderr,
        )
        return 1
    json.dump(
        {
            "trace_id": format(root.get_span_context().trace_id, "032x"),
            "spans": sent,
            "logs": len(logs_out.results),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
