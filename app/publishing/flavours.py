"""The three published flavours in one table: URL prefix, content type, canonicalisation, builder."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from app.dns.naming import SMP1_SERVICE, SMP2_SERVICE
from app.publishing import peppol, smp1, smp2
from app.settings import Settings
from app.trust import xmldsig


@dataclass(frozen=True)
class Flavour:
    name: str  # Publication.flavour
    url_prefix: str  # below SDK_SMP_PATH
    content_type: str
    canonicalization: str
    sign_service_group: bool
    builder: ModuleType
    dns_name: str  # SDK_DNS_SMP_FLAVOUR
    naptr_service: str  # the BDXL U-NAPTR service of an SMP of this flavour
    #: Whether the flavour's clients add ``url_prefix`` themselves (SMP 2.0 §5: ``./bdxr-smp-2/…``).
    client_adds_prefix: bool

    def base_url(self, settings: Settings) -> str:
        return settings.smp_base_url + (f"/{self.url_prefix}" if self.url_prefix else "")

    def discovery_url(self, settings: Settings) -> str:
        """The address a NAPTR record (or an external SML) gives for this flavour: the URL its clients
        append ``/{participant}`` (SMP 2.0: ``/bdxr-smp-2/{participant}``) to."""
        return settings.smp_base_url if self.client_adds_prefix else self.base_url(settings)


_XML = "text/xml; charset=UTF-8"
SMP1 = Flavour("smp1", "", _XML, xmldsig.C14N_10, False, smp1, "oasis1", SMP1_SERVICE, False)
SMP2 = Flavour(
    "smp2", "bdxr-smp-2", "application/xml; charset=UTF-8", xmldsig.C14N_11, True, smp2, "oasis2", SMP2_SERVICE, True
)
PEPPOL = Flavour("peppol", "peppol", _XML, xmldsig.C14N_10, False, peppol, "peppol", SMP1_SERVICE, False)

FLAVOURS = (SMP1, SMP2, PEPPOL)
BY_NAME = {flavour.name: flavour for flavour in FLAVOURS}
BY_PREFIX = {flavour.url_prefix: flavour for flavour in FLAVOURS if flavour.url_prefix}
BY_DNS_NAME = {flavour.dns_name: flavour for flavour in FLAVOURS}


def dns_flavour(settings: Settings) -> Flavour:
    """The flavour DNS leads to (``SDK_DNS_SMP_FLAVOUR``): its :meth:`Flavour.discovery_url` is this SMP's
    address in NAPTR records and in an external SML."""
    return BY_DNS_NAME[settings.dns_smp_flavour]
