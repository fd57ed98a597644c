"""Anthropic Message Batches: the request list is the create call's JSON body
(streamed from disk), results are a JSONL stream at results_url
(docs/batch-apis.md, Anthropic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

from healthqa.domain import Message

from ..errors import ProviderError
from .common import (CANCELLED, COMPLETED, ERRORED, EXPIRED, IN_PROGRESS, SUCCEEDED, BatchClient, BatchResult,
                     BatchStatus, ChunkFile, Limits, count, dumps, file_blocks, parse_line)

_RESULT = {"succeeded": SUCCEEDED, "errored": ERRORED, "canceled": CANCELLED, "expired": EXPIRED}


class AnthropicBatchClient(BatchClient):
    kind = "anthropic"
    limits = Limits(100_000, 256 * 1000 * 1000 - 1024)

    def open_chunk(self, path: Path) -> ChunkFile:
        return ChunkFile(path, self.limits, head=b'{"requests":[', sep=b",", tail=b"]}")

    def request_line(self, custom_id: str, conversation: list[Message]) -> bytes:
        return dumps({"custom_id": custom_id, "params": self._body(conversation)})

    async def submit(self, chunk: ChunkFile, name: str) -> BatchStatus:
        self.uploads += 1
        # No name can be given to a Message Batch, so a create whose reply is lost cannot be found again
        # (find() says None): the engine then stops and says so; see docs/batch-apis.md.
        return self._status(await self.call("POST", f"{self.base_url}/v1/messages/batches", creates=True, body=lambda: {
            "content": file_blocks(chunk.path),
            "headers": {"content-type": "application/json", "content-length": str(chunk.size)}}))

    async def poll(self, provider_id: str) -> BatchStatus:
        return self._status(await self.call("GET", f"{self.base_url}/v1/messages/batches/{provider_id}"))

    async def cancel(self, provider_id: str) -> BatchStatus:
        return self._status(await self.call("POST", f"{self.base_url}/v1/messages/batches/{provider_id}/cancel"))

    def _status(self, data: Any) -> BatchStatus:
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderError(f"{self.label}: the batch reply has no id", retryable=True)
        raw = str(data.get("processing_status") or "")
        c = data.get("request_counts") or {}
        counts = {k: count(c.get(k)) for k in ("processing", "succeeded", "errored", "canceled", "expired")}
        if raw == "ended":
            # One word for every ending; the counts say what happened to each request.
            if data.get("cancel_initiated_at") and counts["canceled"]:
                state = CANCELLED
            elif counts["expired"]:  # the 24-hour window ran out before every request was done
                state = EXPIRED
            else:
                state = COMPLETED
        elif raw == "canceling":
            state = "cancelling"
        else:
            state = IN_PROGRESS
        return BatchStatus(
            provider_id=data["id"], state=state, raw_state=raw, submitted=sum(counts.values()),
            succeeded=counts["succeeded"], errored=counts["errored"], expired=counts["expired"],
            cancelled=counts["canceled"], created_at=data.get("created_at"), ended_at=data.get("ended_at"),
            refs={"results_url": data["results_url"]} if data.get("results_url") else {})

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        url = status.refs.get("results_url") or \
            f"{self.base_url}/v1/messages/batches/{status.provider_id}/results"
        async for raw in self.stream_lines(url):
            line = parse_line(raw)
            if line is None or not isinstance(line.get("custom_id"), str):
                continue
            result = line.get("result") or {}
            outcome = _RESULT.get(result.get("type"), ERRORED)
            if outcome == SUCCEEDED:
                try:
                    yield BatchResult(line["custom_id"], SUCCEEDED, answer=self._answer(result.get("message")))
                except ProviderError as exc:
                    yield BatchResult(line["custom_id"], ERRORED, error=exc.message)
            elif outcome == ERRORED:
                error = result.get("error")
                # The error object of the interactive API, without its HTTP status: an invalid request is a 400.
                invalid = ((error or {}).get("error") or {}).get("type") == "invalid_request_error"
                yield self._errored(line["custom_id"], error, 400 if invalid else None)
            else:
                yield BatchResult(line["custom_id"], outcome, error=f"{self.label} batch request {outcome}")
