"""Firebase Cloud Messaging through ``firebase_admin.messaging`` (the FCM HTTP v1 API).

In prod the app's default credentials authorise the calls. ``POG_FCM_ENDPOINT`` (dev and test only; the
settings refuse it in prod) points the SDK's v1 URLs (``.../v1/projects/{p}/messages:send`` and the
topic ``registrations``) at another base URL, e.g. a local fake that records requests: everything else
(message encoding, HTTP client, retries, FCM error mapping) is the SDK's own code.

Every message sent is counted: ``pog_push_sent``, or ``pog_push_failures`` with the SDK's error mapped to
a short reason (``failure_reason``) for the push-failures alert.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import firebase_admin
from anyio import to_thread
from firebase_admin import credentials, exceptions, messaging

from app.core.config import Settings
from app.core.firebase_auth import AnonymousCredential
from app.core.metrics import count_push_failure, count_push_sent
from app.domain.notifications import Push

log = logging.getLogger("app.push")

#: FCM accepts at most 500 messages per send_each call.
BATCH = 500
HTTP_TIMEOUT_S = 10
#: FCM errors after which a registration token is useless.
_GONE = (messaging.UnregisteredError, messaging.SenderIdMismatchError)
#: The SDK's error classes -> the ``reason`` label; subclasses before their parents (first match wins).
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (messaging.UnregisteredError, "unregistered"),
    (messaging.SenderIdMismatchError, "sender_mismatch"),
    (exceptions.ResourceExhaustedError, "quota"),
    # ThirdPartyAuthError (APNs or web push credentials) is one of these.
    (exceptions.UnauthenticatedError, "unauthenticated"),
    # FCM API not enabled, or the caller lacks cloudmessaging.messages.create.
    (exceptions.PermissionDeniedError, "permission_denied"),
    (exceptions.InvalidArgumentError, "invalid_argument"),
    # Connection refused or reset, timeouts, and 500/503 after the SDK's own retries.
    (
        (exceptions.UnavailableError, exceptions.DeadlineExceededError, exceptions.InternalError),
        "unavailable",
    ),
)


def failure_reason(exc: BaseException) -> str:
    """The ``pog_push_failures`` reason of an error the SDK reported for one message."""
    return next((reason for kinds, reason in _REASONS if isinstance(exc, kinds)), "other")


def _log_refused(refused: Sequence[tuple[str, BaseException]], sent: int) -> None:
    """One line per call, with FCM's own words for the first refusal (e.g. which permission is missing);
    unregistered tokens are left out: they are churn, forgotten by the caller."""
    reason, first = refused[0]
    log.warning(
        "FCM refused %d of %d message(s): %s",
        len(refused),
        sent,
        str(first)[:300],
        extra={"event": "push_refused", "reason": reason},
    )


class PushError(Exception):
    """FCM refused or could not be reached for every recipient."""


class FcmGateway:
    def __init__(self, settings: Settings) -> None:
        cred: credentials.Base
        cred = credentials.ApplicationDefault() if settings.deployed else AnonymousCredential()
        self._app = firebase_admin.initialize_app(
            cred,
            options={"projectId": settings.firebase_project_id, "httpTimeout": HTTP_TIMEOUT_S},
            name=f"pog-push-{id(self)}",
        )
        self._service = messaging._get_messaging_service(self._app)
        if settings.fcm_endpoint is not None:
            self._point_at(settings.fcm_endpoint.rstrip("/"), settings.firebase_project_id)

    def _point_at(self, base: str, project: str) -> None:
        # The SDK has no endpoint option; these are the two URLs it builds in its constructor. Fail loudly
        # if a new SDK version renames them rather than silently sending to Google.
        for attribute in ("_fcm_url", "_fcm_topic_url"):
            if not isinstance(getattr(self._service, attribute, None), str):
                raise RuntimeError(
                    f"firebase_admin.messaging has no {attribute}: cannot use POG_FCM_ENDPOINT"
                )
        self._service._fcm_url = f"{base}/v1/projects/{project}/messages:send"
        self._service._fcm_topic_url = f"{base}/v1/projects/{project}/registrations"

    async def close(self) -> None:
        # The SDK's own close runs asyncio.run(), which cannot run inside the server's event loop.
        await self._service._async_client.aclose()
        await to_thread.run_sync(firebase_admin.delete_app, self._app)

    @staticmethod
    def _message(push: Push, *, token: str | None = None, topic: str | None = None) -> messaging.Message:
        # firebase_admin 7.7 deprecates ``token`` for Firebase Installation ids (``fid``), but the client
        # SDKs hand out registration tokens and FCM v1 takes them; silenced the way the SDK's own
        # send_each_for_multicast does.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return messaging.Message(
                token=token,
                topic=topic,
                notification=messaging.Notification(title=push.title, body=push.body),
                data=dict(push.data),
            )

    async def _send(self, messages: list[messaging.Message]) -> list[messaging.SendResponse]:
        """``send_each_async``, each message counted as sent or failed (with its reason)."""
        try:
            result = await messaging.send_each_async(messages, dry_run=False, app=self._app)
        except Exception as exc:  # the batch as a whole (the SDK's UnknownError): none was sent
            count_push_failure(failure_reason(exc), len(messages))
            raise
        refused: list[tuple[str, BaseException]] = []
        for response in result.responses:
            if response.success:
                count_push_sent()
                continue
            reason = failure_reason(response.exception)
            count_push_failure(reason)
            if reason != "unregistered":
                refused.append((reason, response.exception))
        if refused:
            _log_refused(refused, len(messages))
        responses: list[messaging.SendResponse] = result.responses
        return responses

    async def send_to_tokens(self, tokens: Sequence[str], push: Push) -> list[str]:
        gone: list[str] = []
        failures: list[BaseException] = []
        for start in range(0, len(tokens), BATCH):
            batch = list(tokens[start : start + BATCH])
            responses = await self._send([self._message(push, token=t) for t in batch])
            for token, response in zip(batch, responses, strict=True):
                if response.success:
                    continue
                if isinstance(response.exception, _GONE):
                    gone.append(token)
                elif response.exception is not None:
                    failures.append(response.exception)
        if failures and len(failures) + len(gone) == len(tokens):
            raise PushError(f"FCM refused every message: {type(failures[0]).__name__}") from failures[0]
        return gone

    async def send_to_topic(self, topic: str, push: Push) -> None:
        [response] = await self._send([self._message(push, topic=topic)])
        if not response.success:
            raise PushError(f"FCM refused the topic message: {type(response.exception).__name__}")

    async def subscribe(self, tokens: Sequence[str], topic: str) -> None:
        result = await messaging.subscribe_to_topic_async(list(tokens), topic, app=self._app)
        if result.failure_count:
            raise PushError(
                f"{result.failure_count} token(s) not subscribed to {topic}: {result.errors[0].reason}"
            )
