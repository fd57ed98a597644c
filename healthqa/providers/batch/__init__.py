"""Provider batch APIs (docs/batch-apis.md): requests go up as one job and
come back within a day at about half the price.

    client = make_batch_client(config, api_key)       # healthqa.providers
    chunk = client.open_chunk(path)          # written to disk, never held whole in memory
    chunk.add(client.request_line(custom_id, conversation)); chunk.close()
    status = await client.submit(chunk, name)
    status = await client.poll(status.provider_id)
    async for result in client.results(status): ...   # once status.ended
    await client.aclose()

Every failure is a ProviderError, as for interactive calls (no key in it).
"""

from __future__ import annotations

from .anthropic import AnthropicBatchClient
from .common import (CANCELLED, CANCELLING, COMPLETED, ENDED, ERRORED, EXPIRED, FAILED, FINALIZING, IN_PROGRESS,
                     SUCCEEDED, VALIDATING, BatchClient, BatchResult, BatchStatus, ChunkFile, Limits, LostReply)
from .gemini import GeminiBatchClient
from .openai import OpenAIBatchClient, OpenAICompatibleBatchClient

BATCH_CLIENTS: dict[str, type[BatchClient]] = {
    cls.kind: cls for cls in (OpenAIBatchClient, AnthropicBatchClient, GeminiBatchClient,
                              OpenAICompatibleBatchClient)}


__all__ = [
    "BATCH_CLIENTS", "CANCELLED", "CANCELLING", "COMPLETED", "ENDED", "ERRORED", "EXPIRED", "FAILED",
    "FINALIZING", "IN_PROGRESS", "SUCCEEDED", "VALIDATING", "AnthropicBatchClient", "BatchClient", "BatchResult",
    "BatchStatus", "ChunkFile", "GeminiBatchClient", "Limits", "LostReply", "OpenAIBatchClient",
    "OpenAICompatibleBatchClient",
]
