"""UnionPay 全渠道 (acp 5.1.0) back notifications (后台通知, sent to the backUrl of the order): a
form POST (application/x-www-form-urlencoded) of the transaction's fields, signed by UnionPay with
signMethod 01 and carrying its own signing certificate in signPubKeyCert.

Verification, as the official acp SDK does it (AcpService.validate → CertUtil.verifyAndGetVerifyPubKey):
1. signPubKeyCert (PEM) must be valid now, chain to the merchant's configured middle certificate and
   that to the configured root (acp_prod_middle.cer, acp_prod_root.cer: the same for every merchant),
   and its subject CN, split on "@", must name 中国银联股份有限公司 in third place
   (e.g. "041@8310000000083040@中国银联股份有限公司@00016495"). The SDK's test-environment CN
   "00040000:SIGN" is not accepted (its switch ifValidateCNName=false is a test-only escape).
2. The signed string: every field except `signature`, sorted by name, joined `k=v&k=v` (values as
   decoded from the form, signPubKeyCert included); its SHA-256 as lowercase hex is what is signed
   with SHA256withRSA; `signature` is that signature in base64. Some SDKs drop empty fields first
   (the Java demo's getAllRequestParam), so both strings are tried, as for Alipay.
No notification id or timestamp is signed: a genuine notification may be replayed, which is harmless
(one payment per queryId, finance.callbacks).

Fields (consume, txnType 01): version, encoding, signMethod, signature, signPubKeyCert, merId,
orderId (our order number), txnType, txnSubType, bizType, accessType, txnTime (YYYYMMDDhhmmss,
Beijing: when the order was sent; no payment time is given), txnAmt (fen), currencyCode (ISO 4217
numeric, 156 = CNY), queryId (UnionPay's transaction id), respCode, respMsg, traceNo, traceTime,
settleAmt, settleCurrencyCode, settleDate, accNo (encrypted), … . respCode 00 or A6 (partial
success) means paid, as in the SDK's BackRcvResponse demo. UnionPay retries until it reads HTTP 200
(the demos answer "ok", finance.webhooks).

Sources: open.unionpay.com 全渠道 交易状态查询 (queryTrans) field table (names and types of the common
fields); the notification's own fields from the sandbox sample below (the consume page itself was not read);
the acp SDK: Java `CertUtil.verifyAndGetVerifyPubKey`, `verifyCertificate`, `getIdentitiesFromCertficate`,
`SDKConstants.UNIONPAY_CNNAME`, `SDKUtil.validate` (sha256X16 then validateSignBySoft256); Python port
playniuniu/python-unionpay `unionpay/SDKUtil.py` (verify), `unionpay/CertUtil.py`
(verifyAndGetVerifyCert), `demo/backRcvResponse.py`; a sandbox notification in
finance/tests/payloads/unionpay/ (SOURCES.md). Refunds (txnType 04) and cancellations (31) through
UnionPay are not handled: such notifications are stored and marked ignored.
"""

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.utils.translation import gettext as _

from core.timezones import BEIJING
from finance.models import PaymentProvider
from finance.providers import MalformedCallback, ProviderEvent
from finance.providers.form_bodies import FormError, form_params
from finance.providers.stripe import from_minor_units

VERSION = "5.1.0"
SIGN_METHOD_RSA = "01"
UNIONPAY_CN_NAME = "中国银联股份有限公司"
PAYMENT_TXN_TYPE = "01"  # 消费 (consume)
PAID_RESPONSE_CODES = ("00", "A6")
CURRENCIES = {"156": "CNY"}  # the only currency of 全渠道 consume; others are refused, not guessed
# Hashes a certificate in the chain may be signed with. UnionPay's published test chain (CFCA TEST
# CS CA → CFCA TEST OCA1) is signed with SHA-1, so it stays accepted for certificates; the
# notification itself is always SHA-256.
CHAIN_HASHES = (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)
AMOUNT = re.compile(r"[0-9]{1,12}")
TXN_TIME = "%Y%m%d%H%M%S"


class CertificateProblem(ValueError):
    pass


@dataclass(frozen=True)
class TrustAnchors:
    root: x509.Certificate
    middles: tuple[x509.Certificate, ...]


def parse_form(raw_body: bytes) -> dict[str, str]:
    """The notification's fields, decoded with the encoding it declares (UTF-8 unless it says GBK)."""
    return form_params(raw_body, charset_field="encoding")


def sign_content(params: dict[str, str], *, skip_empty: bool = False) -> str:
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key != "signature" and not (skip_empty and params[key] == "")
    )


def signed_digest(content: str, encoding: str = "utf-8") -> bytes:
    """What acp 5.1.0 signs: the SHA-256 of the string, as lowercase hex (SecureUtil.sha256X16)."""
    return hashlib.sha256(content.encode(encoding)).hexdigest().encode("ascii")


def trust_anchors(root_pem: str, middle_pem: str) -> TrustAnchors:
    """The configured root and middle certificate(s); ValueError when either is not PEM."""
    roots = x509.load_pem_x509_certificates(root_pem.strip().encode())
    middles = x509.load_pem_x509_certificates(middle_pem.strip().encode())
    if len(roots) != 1:
        raise ValueError("exactly one root certificate is expected")
    return TrustAnchors(roots[0], tuple(middles))


def signer_name(certificate: x509.Certificate) -> str:
    """The owner named in the CN: its third "@"-separated part (CertUtil.getIdentitiesFromCertficate)."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return ""
    parts = str(names[0].value).split("@")
    return parts[2] if len(parts) > 2 else ""


def signing_certificate(pem: str, anchors: TrustAnchors, *, now: datetime) -> x509.Certificate:
    """signPubKeyCert, once it is valid now, issued by a configured middle certificate that the
    configured root issued (each valid now), and owned by UnionPay; CertificateProblem otherwise."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateProblem("signPubKeyCert is not a PEM certificate") from exc
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise CertificateProblem("signPubKeyCert does not hold an RSA key")
    _check_validity(certificate, now, "signPubKeyCert")
    if not hmac.compare_digest(signer_name(certificate).encode(), UNIONPAY_CN_NAME.encode()):
        raise CertificateProblem("signPubKeyCert is not issued to China UnionPay (CN)")
    for middle in anchors.middles:
        if middle.subject == certificate.issuer and _issued_by(certificate, middle):
            break
    else:
        raise CertificateProblem("signPubKeyCert is not issued by the configured middle certificate")
    _check_validity(middle, now, "the middle certificate")
    try:
        is_ca = middle.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CertificateProblem("the middle certificate is not a CA")
    if middle.issuer != anchors.root.subject or not _issued_by(middle, anchors.root):
        raise CertificateProblem("the middle certificate is not issued by the configured root")
    _check_validity(anchors.root, now, "the root certificate")
    return certificate


def _check_validity(certificate: x509.Certificate, now: datetime, what: str) -> None:
    if now < certificate.not_valid_before_utc:
        raise CertificateProblem(f"{what} is not valid yet")
    if now > certificate.not_valid_after_utc:
        raise CertificateProblem(f"{what} has expired")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return False
    if not isinstance(key, rsa.RSAPublicKey) or not isinstance(algorithm, CHAIN_HASHES):
        return False
    try:
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def _verifies(key: rsa.RSAPublicKey, signature: bytes, digest: bytes) -> bool:
    try:
        key.verify(signature, digest, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class UnionPayProvider:
    name = PaymentProvider.UNIONPAY
    # UnionPay resends the same signed notification until it reads HTTP 200: not an attack, and one
    # payment per queryId makes a repeat harmless.
    rejects_repeated_signature = False

    def verify(self, headers: dict, raw_body: bytes, *, now: float) -> str:
        if not (settings.UNIONPAY_MER_ID and settings.UNIONPAY_ROOT_CERT and settings.UNIONPAY_MIDDLE_CERT):
            return _(
                "UnionPay is not configured (UNIONPAY_MER_ID, UNIONPAY_ROOT_CERT, UNIONPAY_MIDDLE_CERT)."
            )
        try:
            params = parse_form(raw_body)
        except FormError as exc:
            return _("Unreadable notification: %(error)s.") % {"error": exc}
        if params.get("version") != VERSION:
            return _("Only version %(version)s notifications are accepted.") % {"version": VERSION}
        if params.get("signMethod") != SIGN_METHOD_RSA:
            return _("Only signMethod 01 (RSA certificate) signatures are accepted.")
        try:
            anchors = trust_anchors(settings.UNIONPAY_ROOT_CERT, settings.UNIONPAY_MIDDLE_CERT)
        except ValueError:
            return _("UNIONPAY_ROOT_CERT or UNIONPAY_MIDDLE_CERT is not a PEM certificate.")
        moment = datetime.fromtimestamp(now, UTC)
        try:
            certificate = signing_certificate(params.get("signPubKeyCert", ""), anchors, now=moment)
        except CertificateProblem as exc:
            return _("Refused: %(problem)s.") % {"problem": exc}
        try:
            signature = base64.b64decode(params.get("signature", ""), validate=True)
        except (binascii.Error, ValueError):
            return _("Bad signature.")
        if not signature:
            return _("Missing signature.")
        encoding = params.get("encoding", "utf-8").strip() or "utf-8"
        key = certificate.public_key()
        contents = {sign_content(params), sign_content(params, skip_empty=True)}
        try:
            digests = [signed_digest(content, encoding) for content in contents]
        except (LookupError, UnicodeEncodeError):
            return _("Bad signature.")
        if not any(_verifies(key, signature, digest) for digest in digests):
            return _("Bad signature.")
        return ""

    def signature(self, headers: dict, raw_body: bytes) -> str:
        try:
            return parse_form(raw_body).get("signature", "")[:1024]
        except FormError:
            return ""

    def parse(self, headers: dict, raw_body: bytes) -> ProviderEvent:
        try:
            params = parse_form(raw_body)
        except FormError as exc:
            raise MalformedCallback(str(exc)) from exc
        query_id = params.get("queryId", "").strip()
        if not query_id:
            raise MalformedCallback("queryId: missing")
        txn_type, response = params.get("txnType", ""), params.get("respCode", "")
        event_type = f"{txn_type or '-'}.{params.get('txnSubType') or '-'}:{response or '-'}"
        if not hmac.compare_digest(params.get("merId", "").encode(), settings.UNIONPAY_MER_ID.encode()):
            raise MalformedCallback(f"merId: {params.get('merId', '')[:32]!r} is not our merchant code")
        if txn_type != PAYMENT_TXN_TYPE:
            return ProviderEvent(
                query_id, event_type, ignored_because=f"txnType {txn_type or 'missing'} is not a consume"
            )
        if response not in PAID_RESPONSE_CODES:
            return ProviderEvent(query_id, event_type, ignored_because=f"respCode {response or 'missing'}")
        for name in ("orderId", "txnAmt", "currencyCode", "txnTime"):
            if not params.get(name, "").strip():
                raise MalformedCallback(f"{name}: missing")
        if not AMOUNT.fullmatch(params["txnAmt"]):
            raise MalformedCallback(f"txnAmt: {params['txnAmt'][:20]!r} is not an amount in fen")
        currency = CURRENCIES.get(params["currencyCode"])
        if currency is None:
            raise MalformedCallback(f"currencyCode: {params['currencyCode'][:8]!r} is not 156 (CNY)")
        try:
            paid_at = datetime.strptime(params["txnTime"], TXN_TIME).replace(tzinfo=BEIJING)
        except ValueError as exc:
            raise MalformedCallback(
                f"txnTime: expected YYYYMMDDhhmmss, got {params['txnTime'][:20]!r}"
            ) from exc
        raw = {key: value for key, value in params.items() if key not in ("signature", "signPubKeyCert")}
        return ProviderEvent(
            query_id,
            event_type,
            payment={
                "order_number": params["orderId"].strip(),
                "transaction_id": query_id,
                "amount": from_minor_units(int(params["txnAmt"]), currency),
                "currency": currency,
                "paid_at": paid_at,
                "method": f"unionpay:{params.get('bizType', '')}"[:40].rstrip(":"),
                "raw": raw,
            },
        )


PROVIDER = UnionPayProvider()
