"""Store errors as messages that name the URL and say what to do.

Missing objects are input errors (exit 3); a missing bucket, denied access, expired or
absent credentials, an unreachable endpoint and a store that keeps failing after the
retries are environment errors (exit 4): fix the cause and rerun, the run resumes.
"""

from __future__ import annotations

from ..errors import EnvironmentProblem, InputError, Specter2Error


class NoSuchObject(InputError):
    """The object does not exist (exit 3, as a missing input file)."""


ANON_HINT = "for a public bucket add --anonymous (or SPECTER2_EMBED_ANONYMOUS=1)"
AWS_CREDS = (
    "set AWS_PROFILE (aws configure / aws sso login), or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or run where an instance or pod role provides them"
)

DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "Forbidden",
    "403",
    "InvalidObjectState",
}
BAD_KEY = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "UnrecognizedClientException",
}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
NO_BUCKET = {"NoSuchBucket"}
NO_KEY = {"NoSuchKey", "404", "NotFound"}
THROTTLED_OR_DOWN = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "ServiceUnavailable",
    "InternalError",
    "503",
    "500",
    "502",
    "504",
}


WRITE_HINT = "writing an OUTDIR or --to needs credentials allowed to write this prefix"


def s3_error(
    e: BaseException, url: str, endpoint: str, anonymous: bool, writes: bool = False
) -> Specter2Error:
    """A botocore exception raised while working on `url`, as the tool's error. `writes`:
    the store holds an OUTDIR or --to, which anonymous access can never write."""
    import botocore.exceptions as bx

    anon_hint = WRITE_HINT if writes else ANON_HINT

    where = f" at {endpoint}" if endpoint else ""
    if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return EnvironmentProblem(
            f"{url}: no AWS credentials found ({e}); {AWS_CREDS}; {anon_hint}"
        )
    if isinstance(e, (bx.TokenRetrievalError, bx.SSOTokenLoadError)):
        return EnvironmentProblem(
            f"{url}: the AWS credentials could not be refreshed ({e}); run `aws sso login` "
            "(or renew the session token) and rerun: the run resumes"
        )
    if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
        return EnvironmentProblem(
            f"{url}: cannot reach the store{where} ({e}); check the network, and "
            "AWS_ENDPOINT_URL for an S3-compatible store, then rerun: the run resumes"
        )
    if isinstance(e, (bx.ReadTimeoutError, bx.ConnectionClosedError, bx.ResponseStreamingError)):
        return EnvironmentProblem(
            f"{url}: the store{where} stopped answering after the retries ({e}); rerun to "
            "resume (AWS_MAX_ATTEMPTS raises the number of retries)"
        )
    if isinstance(e, bx.ClientError):
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        msg = str(err.get("Message", "")) or code
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in NO_BUCKET:
            bucket = url.split("/")[2]
            return EnvironmentProblem(
                f"{url}: the bucket '{bucket}' does not exist{where}; check the name (and "
                "AWS_ENDPOINT_URL / the region for an S3-compatible store)"
            )
        if code in NO_KEY:
            return NoSuchObject(f"{url}: no such object")
        if code in EXPIRED:
            return EnvironmentProblem(
                f"{url}: the AWS credentials have expired ({msg}); refresh them (aws sso "
                "login, a new session token) and rerun: the run resumes"
            )
        if code in BAD_KEY:
            return EnvironmentProblem(
                f"{url}: the store{where} rejected the credentials ({code}: {msg}); check "
                f"AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {anon_hint}"
            )
        if code in DENIED or status == 403:
            hint = (
                "the bucket does not allow anonymous access: drop --anonymous and " + AWS_CREDS
                if anonymous
                else f"check that these credentials may use this bucket and prefix; {anon_hint}"
            )
            return EnvironmentProblem(f"{url}: access denied{where} ({msg}); {hint}")
        if code in (
            "PermanentRedirect",
            "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException",
        ):
            return EnvironmentProblem(
                f"{url}: the bucket is in another region ({msg}); set AWS_REGION to its region"
            )
        if code in THROTTLED_OR_DOWN or (isinstance(status, int) and status >= 500):
            return EnvironmentProblem(
                f"{url}: the store{where} kept failing after the retries ({code}: {msg}); "
                "rerun later to resume (AWS_MAX_ATTEMPTS raises the number of retries)"
            )
        return EnvironmentProblem(f"{url}: the store{where} refused the request ({code}: {msg})")
    if isinstance(e, bx.BotoCoreError):
        return EnvironmentProblem(f"{url}: {e}")
    return EnvironmentProblem(f"{url}: {type(e).__name__}: {e}")
