"""What went wrong with a DVC remote, in one line a person can act on.

DVC and the storage libraries under it (s3fs, botocore, gcsfs, adlfs) raise their own
exceptions, often wrapped in each other; ``translate`` walks the chain and names the
case: the plugin is missing, the endpoint is unreachable, credentials are missing or
invalid, the bucket does not exist, or access is denied (``lineage.errors``' remote
errors, each with its own exit code). Anything else stays a plain RemoteError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lineage.errors import (
    RemoteAccessDenied,
    RemoteBucketMissing,
    RemoteCredentials,
    RemoteError,
    RemotePluginMissing,
    RemoteUnreachable,
)

# Bounded waiting: `lineage remote add` writes these timeouts (seconds) for object
# storage, and lineage caps the AWS SDK's attempts (unless AWS_MAX_ATTEMPTS is set),
# so an unreachable endpoint fails in seconds, not after minutes of retries.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MAX_ATTEMPTS = 3

_UNREACHABLE = (
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ConnectionRefusedError",
    "TimeoutError",
)
_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError")
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        todo += [x for x in getattr(e, "exceptions", ()) if isinstance(x, BaseException)]


def translate(exc: BaseException, remote: str, url: str, action: str) -> RemoteError:
    """The remote error ``exc`` means, for remote ``remote`` at ``url`` during ``action``."""
    where = f"remote '{remote}' ({url})"
    names = [type(e).__name__ for e in _chain(exc)]
    texts = " | ".join(str(e) for e in _chain(exc))
    plugin = re.search(r"requires '(dvc-[a-z0-9]+)'", texts)
    if plugin or "RemoteMissingDepsError" in names:
        package = plugin.group(1) if plugin else "its DVC plugin"
        return RemotePluginMissing(
            f"{where} needs {package}, which is not installed",
            hint=f"pip install {package}",
        )
    if any(n in _CREDENTIALS for n in names):
        return RemoteCredentials(
            f"{where}: no credentials found for {action}",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); "
            "lineage never writes credentials into the committed config",
        )
    if any(code in texts for code in _CREDENTIAL_CODES):
        return RemoteCredentials(
            f"{where} refuses the credentials given",
            hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
        )
    if "NoSuchBucket" in texts or re.search(r"bucket does not exist", texts, re.I):
        return RemoteBucketMissing(
            f"{where}: the bucket does not exist",
            hint="create it, or point the remote at an existing one: "
            "lineage remote add NAME s3://BUCKET/PREFIX",
        )
    if any(n in _UNREACHABLE for n in names):
        return RemoteUnreachable(
            f"{where} is unreachable during {action}: {_first_line(texts)}",
            hint="check the endpoint (dvc remote modify NAME endpointurl URL) and the "
            "network; lineage gives up after "
            f"{MAX_ATTEMPTS} attempts of at most {CONNECT_TIMEOUT} s to connect",
        )
    if "PermissionError" in names or re.search(r"AccessDenied|Forbidden|\b403\b", texts):
        return RemoteAccessDenied(
            f"{where}: access denied during {action}",
            hint="the credentials are valid but lack permission for this bucket and prefix",
        )
    return RemoteError(f"{where}: {action} failed: {_first_line(texts)}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "unknown error"
