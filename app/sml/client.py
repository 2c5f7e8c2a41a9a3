"""This service's SMP as a client of an external SML (``SDK_SML_URL``): SOAP over mutual TLS.

:class:`SmlClient` speaks the ManageParticipantIdentifier and ManageServiceMetadata services as BDMSL
serves them (``{SDK_SML_URL}/manageparticipantidentifier``, ``…/manageservicemetadata``), authenticated
by ``SDK_SML_CLIENT_CERT``/``SDK_SML_CLIENT_KEY``, the SML's TLS certificate checked against
``SDK_SML_CA`` (or the system's CAs). :class:`ClientOutbox` drains ``sml_client_changes`` into it: in
order, many participants per CreateList/DeleteList, one by one when a list is refused; a participant the
SML already has (create) or no longer has (delete) counts as done, as DomiSMP counts it; failures wait
with back-off and nothing overtakes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import requests
from lxml import etree
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from app.database import Database
from app.dns.rfc2136 import backoff
from app.identifiers import ParticipantId
from app.registry.bulk import update_singleton
from app.registry.columns import utcnow
from app.registry.models import SmlClientChange, SmlClientState
from app.settings import Settings
from app.sml import messages
from app.sml.soap import LOCATOR, SOAP_ENVELOPE, SoapFault, envelope, parse

logger = logging.getLogger("sdk_addressbook.sml")

#: Participants per CreateList/DeleteList (BDMSL pages its lists by 100).
LIST_SIZE = 100
_LOCK_KEY = 0x5D_4B_A0_D3
XML = "text/xml; charset=utf-8"


class SmlUnavailable(Exception):
    """The SML could not be reached, or answered with something that is not SOAP."""


@dataclass
class SmlRefusal(Exception):
    """The SML answered with a SOAP fault (``kind`` from the WSDL: BadRequestFault, NotFoundFault, …)."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    @property
    def already_there(self) -> bool:
        """A create refused because the participant is registered already (BDMSL's and our wording)."""
        return self.kind == "BadRequestFault" and "already exist" in self.message

    @property
    def already_gone(self) -> bool:
        """A delete refused because the participant is not registered (any more)."""
        return self.kind in ("NotFoundFault", "BadRequestFault") and "doesn't exist" in self.message


class SmlClient:
    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        if settings.sml_url is None or settings.sml_client_cert is None or settings.sml_client_key is None:
            raise ValueError("the SML client needs SDK_SML_URL, SDK_SML_CLIENT_CERT and SDK_SML_CLIENT_KEY")
        self.base = settings.sml_url
        self.smp_id = settings.sml_smp_id
        self.timeout = settings.sml_timeout
        self.http = session or requests.Session()
        self.certificate = (str(settings.sml_client_cert), str(settings.sml_client_key))
        #: Given with every call: a session-wide value gives way to REQUESTS_CA_BUNDLE in requests.
        self.verify: str | bool = str(settings.sml_ca) if settings.sml_ca else True

    def call(self, service: str, payload: etree._Element, action: str) -> etree._Element | None:
        """Send one operation: its answer (``None`` when empty), or :class:`SmlRefusal` or :class:`SmlUnavailable`."""
        url = f"{self.base}/{service}"
        try:
            response = self.http.post(
                url,
                data=envelope(payload),
                headers={"Content-Type": XML, "SOAPAction": f'"{action}"'},
                timeout=self.timeout,
                cert=self.certificate,
                verify=self.verify,
            )
        except requests.RequestException as error:
            raise SmlUnavailable(f"{url}: {type(error).__name__}: {error}") from None
        if response.status_code not in (200, 500):
            raise SmlUnavailable(f"{url} answered HTTP {response.status_code}")
        try:
            root = parse(response.content)
        except SoapFault:
            raise SmlUnavailable(f"{url} answered HTTP {response.status_code} without SOAP") from None
        fault = root.find(f"{{{SOAP_ENVELOPE}}}Body/{{{SOAP_ENVELOPE}}}Fault")
        if fault is not None:
            raise _refusal(fault)
        if response.status_code != 200:
            raise SmlUnavailable(f"{url} answered HTTP {response.status_code} without a fault")
        body = root.find(f"{{{SOAP_ENVELOPE}}}Body")
        if body is None:
            raise SmlUnavailable(f"{url} answered a SOAP envelope without a Body")
        answers = [child for child in body if isinstance(child.tag, str)]
        return answers[0] if answers else None

    def create(self, participants: list[ParticipantId]) -> None:
        self._participants("CreateList", "CreateParticipantIdentifier", "createListIn", participants)

    def delete(self, participants: list[ParticipantId]) -> None:
        self._participants("DeleteList", "DeleteParticipantIdentifier", "deleteListIn", participants)

    def _participants(self, list_name: str, one_name: str, action: str, participants: list[ParticipantId]) -> None:
        if len(participants) == 1:
            payload = messages.participant_request(one_name, self.smp_id, participants[0])
            action = action.replace("List", "")
        else:
            payload = messages.participant_page_request(list_name, self.smp_id, participants)
        self.call("manageparticipantidentifier", payload, _PARTICIPANT_ACTION + action)

    def register_smp(self, logical_address: str, physical_address: str, *, update: bool = False) -> None:
        name = "UpdateServiceMetadataPublisherService" if update else "CreateServiceMetadataPublisherService"
        payload = messages.smp_request(name, self.smp_id, logical_address, physical_address)
        self.call("manageservicemetadata", payload, _SMP_ACTION + ("updateIn" if update else "createIn"))

    def read_smp(self) -> tuple[str, str]:
        """What the SML holds for this SMP: its logical and physical address."""
        payload = messages.smp_request("ReadServiceMetadataPublisherService", self.smp_id, None, None)
        answer = self.call("manageservicemetadata", payload, _SMP_ACTION + "readIn")
        endpoint = None if answer is None else answer.find(f"{{{LOCATOR}}}PublisherEndpoint")
        if endpoint is None:
            raise SmlUnavailable("the SML's Read answer holds no PublisherEndpoint")
        return (
            endpoint.findtext(f"{{{LOCATOR}}}LogicalAddress") or "",
            endpoint.findtext(f"{{{LOCATOR}}}PhysicalAddress") or "",
        )


_PARTICIPANT_ACTION = "http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/         :"
_SMP_ACTION = "http://busdox.org/serviceMetadata/ManageServiceMetadataService/1.0/:"


def _refusal(fault: etree._Element) -> SmlRefusal:
    message = fault.findtext("faultstring") or ""
    detail = fault.find("detail")
    kinds = [child for child in (detail if detail is not None else []) if isinstance(child.tag, str)]
    if kinds:
        kind = etree.QName(kinds[0]).localname
        message = kinds[0].findtext(f"{{{LOCATOR}}}FaultMessage") or message
        return SmlRefusal(kind, message)
    return SmlRefusal("InternalErrorFault" if "Server" in (fault.findtext("faultcode") or "") else "Fault", message)


class ClientOutbox:
    """Sends the local SMP's registration changes to the external SML, in order, until they are applied."""

    def __init__(self, settings: Settings, database: Database, client: SmlClient | None = None) -> None:
        self.database = database
        self.client = client or SmlClient(settings)

    def send_once(self, limit: int = 10 * LIST_SIZE) -> int:
        """One round: the changes due, sent in runs of one operation; how many the SML took."""
        with self.database.writer() as session:
            postgresql = session.get_bind().dialect.name == "postgresql"
            if postgresql and not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}):
                return 0
            now = utcnow()
            rows = list(
                session.scalars(
                    select(SmlClientChange)
                    .where(SmlClientChange.applied_at.is_(None))
                    .order_by(SmlClientChange.id)
                    .limit(limit)
                )
            )
            if not rows or (rows[0].next_attempt_at is not None and rows[0].next_attempt_at > now):
                return 0
            applied: list[int] = []
            failure: tuple[SmlClientChange, Exception] | None = None
            for run in _runs(rows):
                try:
                    self._send(run)
                except (SmlRefusal, SmlUnavailable) as error:
                    failure = (run[0], error)
                    break
                applied.extend(change.id for change in run)
            self._record(session, applied, failure, now)
            return len(applied)

    def _send(self, run: list[SmlClientChange]) -> None:
        create = run[0].operation == "create"
        participants = [ParticipantId(change.scheme, change.value) for change in run]
        send = self.client.create if create else self.client.delete
        try:
            send(participants)
            return
        except SmlRefusal as refusal:
            if len(participants) == 1:
                if refusal.already_there if create else refusal.already_gone:
                    return
                raise
        for participant in participants:  # a list refused as a whole: one at a time, to learn which one
            try:
                send([participant])
            except SmlRefusal as refusal:
                if not (refusal.already_there if create else refusal.already_gone):
                    raise SmlRefusal(refusal.kind, f"{participant}: {refusal.message}") from None

    def _record(
        self, session: Session, applied: list[int], failure: tuple[SmlClientChange, Exception] | None, now: object
    ) -> None:
        if applied:
            session.execute(
                update(SmlClientChange)
                .where(SmlClientChange.id.in_(applied))
                .values(applied_at=now, attempts=SmlClientChange.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            update_singleton(
                session,
                SmlClientState,
                {"last_applied_at": now},
                lambda: SmlClientState(id=1, errors=0, last_applied_at=now),
            )
        if failure is not None:
            head, error = failure
            head.attempts += 1
            head.last_error = str(error)
            head.next_attempt_at = utcnow() + backoff(head.attempts)
            update_singleton(
                session,
                SmlClientState,
                {"errors": SmlClientState.errors + 1, "last_error": str(error), "last_error_at": utcnow()},
                lambda: SmlClientState(id=1, errors=1, last_error=str(error), last_error_at=utcnow()),
            )
            logger.warning(
                "the SML refused or could not take a change (attempt %d, next in %s): %s",
                head.attempts,
                backoff(head.attempts),
                error,
            )

    def drain(self) -> int:
        total = 0
        while True:
            sent = self.send_once()
            total += sent
            if sent < 10 * LIST_SIZE:
                return total

    def prune(self, older_than: timedelta = timedelta(days=7)) -> None:
        with self.database.writer() as session:
            session.execute(
                delete(SmlClientChange).where(
                    SmlClientChange.applied_at.is_not(None), SmlClientChange.applied_at < utcnow() - older_than
                )
            )

    def run(
        self, stop: threading.Event, *, poll_interval: float = 0.5, on_round: Callable[[], None] | None = None
    ) -> None:
        rounds = 0
        while not stop.is_set():
            try:
                sent = self.drain()
                if sent:
                    logger.info("the SML took %d registration changes", sent)
                rounds += 1
                if rounds % 7200 == 0:
                    self.prune()
            except Exception:
                logger.exception("SML client round failed")
            if on_round is not None:
                on_round()
            stop.wait(poll_interval)


def _runs(rows: list[SmlClientChange]) -> list[list[SmlClientChange]]:
    """Consecutive changes of one operation, at most :data:`LIST_SIZE` each (order kept across runs)."""
    runs: list[list[SmlClientChange]] = []
    for row in rows:
        if runs and runs[-1][0].operation == row.operation and len(runs[-1]) < LIST_SIZE:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs
