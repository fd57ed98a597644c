"""Gemini batch mode: models/{model}:batchGenerateContent with inline
requests (up to 20 MB) or an uploaded JSONL file, polled as a long-running
operation, responses read by key (docs/batch-apis.md, Gemini)."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from healthqa.domain import Message

from ..errors import ProviderError
from ..gemini import API_VERSION
from .common import (CANCELLED, COMPLETED, ERRORED, EXPIRED, FAILED, IN_PROGRESS, SUCCEEDED, VALIDATING,
                     BatchClient, BatchResult, BatchStatus, ChunkFile, Limits, count, dumps, file_blocks,
                     parse_line)

INLINE_LIMIT = 20 * 1000 * 1000 - 64 * 1024  # the whole create request, with room for its framing
# REST says BATCH_STATE_*; the SDKs (and older docs) say JOB_STATE_*: both are read.
_STATES = {"PENDING": VALIDATING, "RUNNING": IN_PROGRESS, "SUCCEEDED": COMPLETED, "FAILED": FAILED,
           "CANCELLED": CANCELLED, "EXPIRED": EXPIRED}


_NOT_RUN = {"CANCELLED": CANCELLED, "DEADLINE_EXCEEDED": EXPIRED}


def _state(raw: str) -> str:
    return _STATES.get(raw.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_"), VALIDATING)


class GeminiBatchClient(BatchClient):
    kind = "gemini"
    # No documented request cap; 50,000 keeps one chunk's bookkeeping modest. 2 GB per uploaded file.
    limits = Limits(50_000, 2 * 1000 * 1000 * 1000 - 1024)

    def request_line(self, custom_id: str, conversation: list[Message]) -> bytes:
        # The file format; an inline batch carries the same request under metadata.key.
        return dumps({"key": custom_id, "request": self._body(conversation)})

    @property
    def _model(self) -> str:
        model = self.provider.config.model
        return model if model.startswith("models/") else f"models/{model}"

    async def submit(self, chunk: ChunkFile, name: str) -> BatchStatus:
        self.uploads += 1
        if chunk.size <= INLINE_LIMIT:
            batch = {"displayName": name, "inputConfig": {"requests": {"requests": list(_inline(chunk))}}}
        else:
            batch = {"displayName": name, "inputConfig": {"fileName": await self._upload(chunk, name)}}
        operation = await self.call("POST", f"{self.base_url}/{API_VERSION}/{self._model}:batchGenerateContent",
                                    creates=True, body=lambda: {"json": {"batch": batch}})
        return self._status(operation)

    async def _upload(self, chunk: ChunkFile, name: str) -> str:
        start = await self.call("POST", f"{self.base_url}/upload/{API_VERSION}/files", expect_json=False, body=lambda: {
            "json": {"file": {"display_name": name}},
            "headers": {"x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start",
                        "x-goog-upload-header-content-length": str(chunk.size),
                        "x-goog-upload-header-content-type": "application/jsonl"}})
        url = start.headers.get("x-goog-upload-url")
        if not url:
            raise ProviderError(f"{self.label}: the file upload was not given an upload URL", retryable=True)
        done = await self.call("POST", url, body=lambda: {
            "content": file_blocks(chunk.path),
            "headers": {"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0",
                        "content-length": str(chunk.size)}})
        name = ((done or {}).get("file") or {}).get("name")
        if not name:
            raise ProviderError(f"{self.label}: the file upload returned no file name", retryable=True)
        return name

    async def find(self, name: str) -> BatchStatus | None:
        """Our batches carry their name as displayName."""
        params: dict[str, Any] = {"pageSize": 100}
        for _ in range(10):
            page = await self.call("GET", f"{self.base_url}/{API_VERSION}/batches", body=lambda: {"params": params})
            for operation in page.get("operations") or page.get("batches") or ():
                if (operation.get("metadata") or {}).get("displayName") == name:
                    return self._status(operation)
            if not page.get("nextPageToken"):
                return None
            params["pageToken"] = page["nextPageToken"]
        return None

    def _path(self, provider_id: str) -> str:
        return provider_id if provider_id.startswith("batches/") else f"batches/{provider_id}"

    async def poll(self, provider_id: str) -> BatchStatus:
        return self._status(await self.call("GET", f"{self.base_url}/{API_VERSION}/{self._path(provider_id)}"))

    async def cancel(self, provider_id: str) -> BatchStatus:
        await self.call("POST", f"{self.base_url}/{API_VERSION}/{self._path(provider_id)}:cancel")
        return await self.poll(provider_id)

    def _status(self, data: Any) -> BatchStatus:
        if not isinstance(data, dict) or not data.get("name"):
            raise ProviderError(f"{self.label}: the batch reply has no name", retryable=True)
        meta = data.get("metadata") or {}
        raw = str(meta.get("state") or data.get("state") or "")
        stats = meta.get("batchStats") or {}
        error = data.get("error") or {}
        response = data.get("response") or (meta.get("output") or {})
        refs: dict[str, Any] = {}
        if response.get("responsesFile"):
            refs["responses_file"] = response["responsesFile"]
        elif response.get("inlinedResponses"):
            refs["inline"] = True  # read again from the operation when collecting (kept out of the workspace)
        return BatchStatus(
            provider_id=data["name"], state=_state(raw), raw_state=raw, submitted=count(stats.get("requestCount")),
            succeeded=count(stats.get("successfulRequestCount")), errored=count(stats.get("failedRequestCount")),
            created_at=meta.get("createTime"), ended_at=meta.get("endTime"),
            message=f"{error.get('status') or 'error'}: {error.get('message')}" if error.get("message") else None,
            refs=refs)

    async def results(self, status: BatchStatus) -> AsyncIterator[BatchResult]:
        if status.refs.get("responses_file"):
            url = f"{self.base_url}/download/{API_VERSION}/{status.refs['responses_file']}:download"
            async for raw in self.stream_lines(url, params={"alt": "media"}):
                line = parse_line(raw)
                if line is not None and isinstance(line.get("key"), str):
                    yield self._result(line["key"], line)
            return
        operation = await self.call("GET", f"{self.base_url}/{API_VERSION}/{self._path(status.provider_id)}")
        response = operation.get("response") or ((operation.get("metadata") or {}).get("output") or {})
        for entry in (response.get("inlinedResponses") or {}).get("inlinedResponses") or ():
            key = (entry.get("metadata") or {}).get("key")
            if isinstance(key, str):
                yield self._result(key, entry)

    def _result(self, key: str, entry: dict) -> BatchResult:
        if entry.get("error"):
            # Requests a cancelled or expired batch never ran carry the gRPC status saying so.
            outcome = _NOT_RUN.get(str(entry["error"].get("status")), ERRORED)
            if outcome == ERRORED:  # a google.rpc.Status: its code is the HTTP status
                code = entry["error"].get("code")
                return self._errored(key, {"error": entry["error"]}, code if isinstance(code, int) else None)
            return BatchResult(key, outcome, error=self._error_text({"error": entry["error"]}))
        try:
            return BatchResult(key, SUCCEEDED, answer=self._answer(entry.get("response")))
        except ProviderError as exc:
            return BatchResult(key, ERRORED, error=exc.message)


def _inline(chunk: ChunkFile):
    """The chunk's file lines as inline requests (a small chunk: at most 20 MB in memory)."""
    with open(chunk.path, "rb") as f:
        for raw in f:
            if raw.strip():
                line = json.loads(raw)
                yield {"request": line["request"], "metadata": {"key": line["key"]}}
