"""UnionPay as our tests play it: a certificate chain made here (root → middle → signing certificate
whose CN names 中国银联股份有限公司, shaped like UnionPay's own, see payloads/unionpay/), and back
notifications signed the way acp 5.1.0 signs them (finance.providers.unionpay's docstring): sorted
k=v&… string → SHA-256 hex → SHA256withRSA → base64, the signing certificate in signPubKeyCert."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from finance.providers.unionpay import sign_content, signed_digest

PAYLOADS = Path(__file__).parent / "payloads" / "unionpay"
MER_ID = "777290058167151"
SIGNER_CN = "041@8310000000083040@中国银联股份有限公司@00016495"


@dataclass(frozen=True)
class Issued:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Chain:
    root: Issued
    middle: Issued
    signer: Issued


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(common_name: str, *units: str) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CFCA"),
    ]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in units]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    subject: x509.Name,
    *,
    issuer: Issued | None = None,
    ca: bool,
    key: rsa.RSAPrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A certificate for `subject`, signed by `issuer` (self-signed when None)."""
    key = key or new_key()
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=30))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    signing_key = issuer.key if issuer else key
    return Issued(key, builder.sign(signing_key, hashes.SHA256()))


def make_chain(**signer) -> Chain:
    """Root and middle named like UnionPay's test chain (CFCA TEST CS CA → CFCA TEST OCA1)."""
    root = issue(name("CFCA TEST CS CA"), ca=True)
    middle = issue(name("CFCA TEST OCA1"), issuer=root, ca=True)
    return Chain(root, middle, make_signer(middle, **signer))


def make_signer(middle: Issued, *, common_name: str = SIGNER_CN, **validity) -> Issued:
    subject = name(common_name, "Local RA OCA1", "Enterprises")
    return issue(subject, issuer=middle, ca=False, **validity)


def configure(settings, chain: Chain, *, mer_id: str = MER_ID) -> None:
    settings.UNIONPAY_MER_ID = mer_id
    settings.UNIONPAY_ROOT_CERT = chain.root.pem
    settings.UNIONPAY_MIDDLE_CERT = chain.middle.pem


def sandbox_notification() -> dict[str, str]:
    """A notification UnionPay's sandbox signed (payloads/unionpay/SOURCES.md)."""
    return json.loads((PAYLOADS / "consume_notification_sandbox.json").read_text())


def notification(order_number: str, **changes) -> dict[str, str]:
    """The sandbox consume notification for our merchant and order, unsigned."""
    fields = {key: value for key, value in sandbox_notification().items() if key != "signature"}
    fields.update(
        merId=MER_ID,
        orderId=order_number,
        queryId="782603011322060674028",
        txnTime="20260301000005",
        txnAmt="21280",
        settleAmt="21280",
    )
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not None}


def signed(fields: dict[str, str], signer: Issued, *, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    """The fields with signPubKeyCert = signer's certificate and the acp 5.1.0 signature."""
    fields = {**fields, "signPubKeyCert": signer.pem}
    digest = signed_digest(sign_content(fields))
    signature = (key or signer.key).sign(digest, padding.PKCS1v15(), hashes.SHA256())
    return {**fields, "signature": base64.b64encode(signature).decode()}


def form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode("ascii")
