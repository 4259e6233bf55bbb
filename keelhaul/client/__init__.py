"""The one OCI client of keelhaul: used by the conformance suite, the load suite and the tests alike.

from keelhaul.client import RegistryClient, Credentials, GeneratedBlob
client = RegistryClient("http://127.0.0.1:5000", credentials=Credentials("alice", "pat"))
result = client.upload_chunked("alice/app", GeneratedBlob(1 << 30, seed="layer-1"), 16 << 20)
"""

from keelhaul.client.auth import Challenge, Credentials, parse_challenge
from keelhaul.client.content import BlobSource, BytesBlob, GeneratedBlob, SharedPrefixBlob, digest_of
from keelhaul.client.media_types import ALL_MANIFEST_TYPES
from keelhaul.client.recorder import Exchange, ExchangeRecorder
from keelhaul.client.registry import DEFAULT_TIMEOUT, RegistryClient
from keelhaul.client.uploads import UploadError, UploadResult
from keelhaul.client.urls import add_query, query_string

__all__ = [
    "ALL_MANIFEST_TYPES",
    "DEFAULT_TIMEOUT",
    "BlobSource",
    "BytesBlob",
    "Challenge",
    "Credentials",
    "Exchange",
    "ExchangeRecorder",
    "GeneratedBlob",
    "RegistryClient",
    "SharedPrefixBlob",
    "UploadError",
    "UploadResult",
    "add_query",
    "digest_of",
    "parse_challenge",
    "query_string",
]
