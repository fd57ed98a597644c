"""OpenAI Batch API: a JSONL file uploaded to /v1/files, a batch on
/v1/chat/completions, output and error files matched by custom_id
(docs/batch-apis.md, OpenAI)."""

from __future__ import annotations

import datetime as _dt
from typing import Any, AsyncIterator

from healthqa.domain import Message

from ..errors import ProviderError
from .common import (CANCELLED, ERRORED, EXPIRED, SUCCEEDED, BatchClient, BatchResult, BatchStatus, ChunkFile,
                     Limits, count, dumps, parse_line)

ENDPOINT = "/v1/chat/completions"
# Per-request error codes for requests a batch never ran.
_NOT_RUN = {"batch_expired": EXPIRED, "batch_cancelled": CANCELLED}


def _when(seconds: Any) -> str | None:
    if not seconds:
        return None
    return _dt.datetime.fromtimestamp(int(seconds), _dt.timezone.utc).isoformat(timespec="seconds")


class OpenAIBatchClient(BatchClient):
    kind = "openai"
    # 50,000 requests and 200 MB per input file; a little room kept under the byte limit.
    limits = Limits(50_000, 200 * 1000 * 1000 - 1024)

    def request_line(self, custom_id: str, conversation: list[Message]) -> bytes:
        return dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": self._body(conversation)})

    async def submit(self, chunk: ChunkFile, name: str) -> BatchStatus:
        def upload() -> dict:
            return {"files": {"file": (f"{name}.jsonl", open(chunk.path, "rb"), "application/jsonl")},
                    "data": {"purpose": "batch"}}
        self.uploads += 1
        try:
            uploaded = await self.call("POST", f"{self.base_url}/files", body=upload)
        except ProviderError as exc:
            if exc.status in (404, 405, 501):  # a local server without the Files API
                raise ProviderError(f"{self.label} at {self.base_url} does not offer the OpenAI batch API "
                                    f"(HTTP {exc.status} on /files); run without --batch", status=exc.status,
                                    fatal=True) from None
            raise
        file_id = uploaded.get("id") if isinstance(uploaded, dict) else None
        if not file_id:
            raise ProviderError(f"{self.label}: the file upload returned no file id", retryable=True)
        batch = await self.call("POST", f"{self.base_url}/batches", creates=True, body=lambda: {"json": {
            "input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h",
            "metadata": {"healthqa_batch": name}}})
        status = self._status(batch)
        status.refs["input_file_id"] = file_id
        return status

    async def find(self, name: str) -> BatchStatus | None:
        """Our batches carry their name in metadata; the newest are listed first."""
        params: dict[str, Any] = {"limit": 100}
        for _ in range(10):  # a lost reply is recent: the first pages hold it
            page = await self.call("GET", f"{self.base_url}/batches", body=lambda: {"params": params})
            for batch in page.get("data") or ():
                if (batch.get("metadata") or {}).get("healthqa_batch") == name:
                    return self._status(batch)
            if not page.get("has_more") or not page.get("last_id"):
                return None
            params["after"] = page["last_id"]
        return None

    async def poll(self, provider_id: str) -> BatchStatus:
        return self._status(await self.call("GET", f"{self.base_url}/batches/{provider_id}"))

    async def cancel(self, provider_id: str) -> BatchStatus:
        return self._status(await self.call("POST", f"{self.base_url}/batches/{provider_id}/cancel"))

    def _status(self, data: Any) -> BatchStatus:
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderError(f"{self.label}: the batch reply has no id", retryable=True)
        raw = str(data.get("status") or "")
        counts = data.get("request_counts") or {}
        message = None
        errors = (data.get("errors") or {}).get("data") or []
        if errors:
            first = errors[0]
            where = f" (line {first['line']})" if first.get("line") else ""
            message = f"{first.get('code') or 'error'}: {first.get('message') or ''}{where}"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more)"
        ended = data.get("completed_at") or data.get("failed_at") or data.get("expired_at") or data.get("cancelled_at")
        return BatchStatus(
            provider_id=data["id"], state=raw if raw else "validating", raw_state=raw,
            submitted=count(counts.get("total")), succeeded=count(counts.get("completed")),
            errored=count(counts.get("failed")), created_at=_when(data.get("created_at")), ended_at=_when(ended),
            message=message, refs={k: data.get(k) for k in ("output_file_id", "error_file_id") if data.get(k)})

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        for ref in ("output_file_id", "error_file_id"):
            file_id = status.refs.get(ref)
            if not file_id:
                continue
            async for raw in self.stream_lines(f"{self.base_url}/files/{file_id}/content"):
                result = self._result(raw)
                if result is not None:
                    yield result

    def _result(self, raw: bytes) -> BatchResult | None:
        line = parse_line(raw)
        if line is None or not isinstance(line.get("custom_id"), str):
            return None
        custom_id = line["custom_id"]
        response = line.get("response") or {}
        error = line.get("error")
        if response.get("status_code") == 200 and not error:
            try:
                return BatchResult(custom_id, SUCCEEDED, answer=self._answer(response.get("body")))
            except ProviderError as exc:
                return BatchResult(custom_id, ERRORED, error=exc.message)
        if isinstance(error, dict) and error.get("code") in _NOT_RUN:
            return BatchResult(custom_id, _NOT_RUN[error["code"]], error=self._error_text({"error": error}))
        if response.get("body") is not None:
            return self._errored(custom_id, response["body"], response.get("status_code"))
        return BatchResult(custom_id, ERRORED, error=self._error_text({"error": error or {}}))


class OpenAICompatibleBatchClient(OpenAIBatchClient):
    """An OpenAI-compatible server that offers /files and /batches (LiteLLM, some hosted
    servers); a server without them is refused with a clear line on the first upload."""

    kind = "openai-compatible"
