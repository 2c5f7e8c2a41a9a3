"""The three published flavours in one table: URL prefix, content type, canonicalisation, builder."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

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

    def base_url(self, settings: Settings) -> str:
        return settings.smp_base_url + (f"/{self.url_prefix}" if self.url_prefix else "")


SMP1 = Flavour("smp1", "", "text/xml; charset=UTF-8", xmldsig.C14N_10, False, smp1)
SMP2 = Flavour("smp2", "bdxr-smp-2", "application/xml; charset=UTF-8", xmldsig.C14N_11, True, smp2)
PEPPOL = Flavour("peppol", "peppol", "text/xml; charset=UTF-8", xmldsig.C14N_10, False, peppol)

FLAVOURS = (SMP1, SMP2, PEPPOL)
BY_NAME = {flavour.name: flavour for flavour in FLAVOURS}
BY_PREFIX = {flavour.url_prefix: flavour for flavour in FLAVOURS if flavour.url_prefix}
