"""The demonstration timestamping authority, signing with a key parsed once.

pyHanko's test authority (``DummyTimeStamper``) parses its DER key again for every token,
and cryptography then checks the RSA key: 36 ms of a 40 ms answer, paid by every
signature made with the demonstration services. :class:`KeyOnceTimeStamper` overrides
its private ``_sign_tst_info`` (written for pyHanko 0.38) to build the same signed
attributes with a key parsed once; the tokens are pyHanko's, byte for byte. Any failure
falls back to pyHanko's own method for that token."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

__all__ = ["KeyOnceTimeStamper"]

log = logging.getLogger(__name__)


class KeyOnceTimeStamper(DummyTimeStamper):  # type: ignore[misc]
    """pyHanko's test timestamping authority, signing with ``key`` parsed once."""

    def __init__(self, key: RSAPrivateKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, when: dt.datetime
                       ) -> tuple[bytes, cms.CMSAttributes]:
        try:
            return self._sign_once_parsed(tst_info_data, md_algorithm, when)
        except Exception:  # noqa: BLE001 - pyHanko's own method then signs this token
            log.warning("demonstration TSA speed-up failed; signing with pyHanko's method",
                        exc_info=True)
            return super()._sign_tst_info(tst_info_data, md_algorithm, when)  # type: ignore

    def _sign_once_parsed(self, tst_info_data: bytes, md_algorithm: str, when: dt.datetime
                          ) -> tuple[bytes, cms.CMSAttributes]:
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(when)})),
            simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
            simple_cms_attribute("message_digest", digest.finalize()),
        ])
        signature = self._key.sign(signed_attrs.dump(), PKCS1v15(),
                                   get_pyca_cryptography_hash(md_algorithm.upper()))
        return signature, signed_attrs
