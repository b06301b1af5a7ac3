"""The account's certificates (runtime/service/account_certs.py): add, get, list, delete and
cancel a failed deletion with the service's codes; a pool that references them, its tasks
finding them in ``$AZ_BATCH_CERTIFICATES_DIR``; a restart keeps them."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import pytest

from account_testing import accounts, error_of, poll

WAIT = 15.0

#: a self-signed test certificate (EC P-256, "poolscale test"), DER, and its SHA-1 thumbprint
CER = base64.b64decode(
    "MIIBHjCBxaADAgECAgEBMAoGCCqGSM49BAMCMBkxFzAVBgNVBAMMDnBvb2xzY2FsZSB0ZXN0MB4XDTI2MDEwMTAw"
    "MDAwMFoXDTM2MDEwMTAwMDAwMFowGTEXMBUGA1UEAwwOcG9vbHNjYWxlIHRlc3QwWTATBgcqhkjOPQIBBggqhkjO"
    "PQMBBwNCAATZZ+t3xuwMeNmramEhojDY8sZ1zhfoQ0V3frc0PX4Ck4d+F00Mcio9+vIuA0Fwau0ad0guGTKaXaka"
    "EORCS7taMAoGCCqGSM49BAMCA0gAMEUCIEM24zLPuaNg6VD7iqOl8UmJKKDS/DS8nbySCoVxxQzYAiEA8qEo+5Hc"
    "OXPZ5DIeyVVWf9b+zUuTCHiIVcmE5GZ5+UY=")
TP = "931d238e4338a067ba70b26086aefaccf7236cf7"
CER_B64 = base64.b64encode(CER).decode()


def cer(**extra):
    return {"thumbprint": TP, "thumbprintAlgorithm": "sha1", "data": CER_B64,
            "certificateFormat": "cer", **extra}


@pytest.fixture
def account(tmp_path):
    yield from accounts(tmp_path)


def pool(id="p1", refs=(TP,), **extra):
    return {"id": id, "vmSize": "STANDARD_D2_v3", "targetDedicatedNodes": 1,
            "certificateReferences": [{"thumbprint": t, "thumbprintAlgorithm": "sha1"} for t in refs],
            **extra}


def test_add_get_list_show_the_certificate_without_its_secret(account):
    acct = account()
    view = acct.add_certificate(cer(thumbprint=TP.upper()))
    assert set(view) == {"thumbprint", "thumbprintAlgorithm", "state", "stateTransitionTime",
                         "publicData"}
    assert (view["thumbprint"], view["thumbprintAlgorithm"], view["state"], view["publicData"]) == \
        (TP.upper(), "sha1", "active", CER_B64)
    assert acct.get_certificate("sha1", TP) == view          # thumbprints match without case
    assert acct.list_certificates() == [view]
    assert error_of(lambda: acct.add_certificate(cer())).code == "CertificateExists"
    missing = error_of(lambda: acct.get_certificate("sha1", "ab" * 20))
    assert (missing.code, missing.status) == ("CertificateNotFound", 404)


def test_a_pem_cer_is_checked_against_its_der(account):
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(CER) + b"-----END CERTIFICATE-----\n"
    view = account().add_certificate(cer(data=base64.b64encode(pem).decode()))
    assert view["publicData"] == CER_B64


@pytest.mark.parametrize("change, code, name, reason", [
    ({"data": "not base64!"}, "InvalidPropertyValue", "data", "is not base64"),
    ({"data": base64.b64encode(b"x" * 10241).decode()}, "InvalidPropertyValue", "data",
     "is larger than the 10 KiB a certificate may be"),
    ({"thumbprint": "ab" * 20}, "InvalidPropertyValue", "thumbprint",
     f"is not the SHA-1 thumbprint of the certificate ({TP})"),
    ({"thumbprint": "xyz"}, "InvalidPropertyValue", "thumbprint", "must be up to 40 hex digits"),
    ({"thumbprintAlgorithm": "sha256"}, "InvalidPropertyValue", "thumbprintAlgorithm", "must be sha1"),
    ({"certificateFormat": "pem"}, "InvalidPropertyValue", "certificateFormat", "must be pfx or cer"),
    ({"password": "s3cret"}, "InvalidPropertyValue", "password", "must be omitted for a cer certificate"),
    ({"certificateFormat": "pfx"}, "MissingRequiredProperty", "password", None),
    ({"data": None}, "MissingRequiredProperty", "data", None),
    ({"url": "x"}, "UnsupportedProperty", "url", None),
])
def test_refusals_name_the_property_and_never_show_the_password(account, change, code, name, reason):
    spec = {k: v for k, v in {**cer(), **change}.items() if v is not None}
    e = error_of(lambda: account().add_certificate(spec))
    assert (e.code, e.status, dict(e.values)["PropertyName"]) == (code, 400, name)
    if reason is not None:
        assert dict(e.values)["Reason"] == reason
    assert "s3cret" not in repr(e.values) + e.message


def test_a_pfx_is_read_with_its_password(account):
    crypto = pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption, Encoding, pkcs12)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    assert crypto
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pfx test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(datetime.datetime(2026, 1, 1))
            .not_valid_after(datetime.datetime(2036, 1, 1)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(Encoding.DER)
    tp = hashlib.sha1(der).hexdigest()
    pfx = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, BestAvailableEncryption(b"pw1"))
    spec = {"thumbprint": tp, "thumbprintAlgorithm": "sha1", "certificateFormat": "pfx",
            "data": base64.b64encode(pfx).decode(), "password": "pw1"}
    acct = account()
    wrong = error_of(lambda: acct.add_certificate({**spec, "password": "nope"}))
    assert (wrong.code, dict(wrong.values)["PropertyName"], dict(wrong.values)["PropertyValue"]) == \
        ("InvalidPropertyValue", "password", "(hidden)")
    view = acct.add_certificate(spec)
    assert view["publicData"] == base64.b64encode(der).decode()      # the public part only
    assert "password" not in view


def test_delete_of_an_unreferenced_certificate_is_at_once(account):
    acct = account()
    acct.add_certificate(cer())
    active = error_of(lambda: acct.cancel_delete_certificate("sha1", TP))
    assert (active.code, active.status) == ("CertificateStateActive", 409)
    acct.delete_certificate("sha1", TP)
    assert acct.list_certificates() == []
    assert error_of(lambda: acct.delete_certificate("sha1", TP)).code == "CertificateNotFound"


def test_a_pool_references_certificates_the_account_has(account):
    acct = account()
    e = error_of(lambda: acct.create_pool(pool()))
    assert (e.code, e.status, dict(e.values)) == (
        "InvalidCertificateReferences", 409, {"ThumbprintAlgorithm": "sha1", "Thumbprint": TP})
    assert acct.list_pools() == []
    bad = error_of(lambda: acct.create_pool({**pool(), "certificateReferences": [{"thumbprint": TP}]}))
    assert (bad.code, dict(bad.values)["PropertyName"]) == (
        "MissingRequiredProperty", "certificateReferences.0.thumbprintAlgorithm")


def test_deleting_a_referenced_certificate_fails_until_cancelled(account):
    acct = account()
    acct.add_certificate(cer())
    acct.create_pool(pool(targetDedicatedNodes=0))
    acct.delete_certificate("sha1", TP)
    view = acct.get_certificate("sha1", TP)
    assert (view["state"], view["previousState"]) == ("deletefailed", "deleting")
    assert view["deleteCertificateError"] == {
        "code": "CertificateStateDeleteFailed",
        "message": "The certificate is in use by the pools p1; remove it from them, or delete "
                   "them, and try again.",
        "values": [{"name": "PoolId", "value": "p1"}]}
    acct.cancel_delete_certificate("sha1", TP)
    view = acct.get_certificate("sha1", TP)
    assert (view["state"], view["previousState"]) == ("active", "deletefailed")
    assert "deleteCertificateError" not in view


def test_every_process_of_the_pool_finds_the_certificates(account, tmp_path):
    acct = account()
    acct.add_certificate(cer())
    acct.create_pool(pool(startTask={
        "commandLine": "/bin/sh -c 'ls \"$AZ_BATCH_CERTIFICATES_DIR\" > ../seen.txt'"}))
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "t", "commandLine":
                        "/bin/sh -c 'echo $AZ_BATCH_CERTIFICATES_DIR; "
                        "sha1sum < \"$AZ_BATCH_CERTIFICATES_DIR/sha1-" + TP + ".cer\"'"})
    acct.wait_for_job("j", timeout=WAIT)
    out = acct.read_task_file("j", "t", "stdout.txt").decode().split("\n")
    node = acct.get_task("j", "t")["nodeInfo"]["nodeId"]
    task_dir = acct.node_dirs.task_dir("p1", node, "j", "t")
    assert out[0] == str(task_dir / "certs")
    assert out[1].split()[0] == TP
    assert acct.read_node_file("p1", node, "startup/seen.txt") == f"sha1-{TP}.cer\n".encode()
    mode = stat.S_IMODE(os.stat(task_dir / "certs" / f"sha1-{TP}.cer").st_mode)
    assert mode == 0o644


def test_a_pfx_and_its_password_are_private_files(tmp_path):
    from poolscale.runtime.service.local.certificates import install_certificates

    where = tmp_path / "task" / "certs"
    install_certificates(where, [("sha1-ab.pfx", b"PFX", 0o600), ("sha1-ab.pfx.pw", b"pw", 0o600)])
    assert {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in where.iterdir()} == {
        "sha1-ab.pfx": (b"PFX", 0o600), "sha1-ab.pfx.pw": (b"pw", 0o600)}
    # a link planted where a file goes is not followed
    (where / "sha1-ab.pfx.pw").unlink()
    (where / "sha1-ab.pfx.pw").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        install_certificates(where, [("sha1-ab.pfx.pw", b"pw", 0o600)])
    assert not (tmp_path / "elsewhere").exists()


def test_a_restart_keeps_the_certificates(account):
    acct = account()
    acct.add_certificate(cer())
    acct.create_pool(pool(targetDedicatedNodes=0))
    acct.delete_certificate("sha1", TP)
    before = acct.get_certificate("sha1", TP)
    acct.close()
    again = account()
    assert again.list_certificates() == [before]
    # still referenced by the restored pool: a second delete fails again
    again.cancel_delete_certificate("sha1", TP)
    again.delete_pool("p1")
    poll(lambda: again.list_pools() == [], "the pool to go")
    again.delete_certificate("sha1", TP)
    again.close()
    assert account().list_certificates() == []


def test_a_patch_or_replace_changes_what_the_pool_installs(account):
    acct = account()
    acct.add_certificate(cer())
    acct.create_pool(pool(refs=()))
    ref = [{"thumbprint": "ab" * 20, "thumbprintAlgorithm": "sha1"}]
    e = error_of(lambda: acct.patch_pool("p1", {"certificateReferences": ref}))
    assert (e.code, dict(e.values)["Thumbprint"]) == ("InvalidCertificateReferences", "ab" * 20)
    acct.patch_pool("p1", {"certificateReferences": [{"thumbprint": TP, "thumbprintAlgorithm": "sha1"}]})
    acct.add_job({"id": "j", "poolInfo": {"poolId": "p1"}})
    acct.add_task("j", {"id": "t", "commandLine": "/bin/sh -c 'ls \"$AZ_BATCH_CERTIFICATES_DIR\"'"})
    acct.wait_for_job("j", timeout=WAIT)
    assert acct.read_task_file("j", "t", "stdout.txt") == f"sha1-{TP}.cer\n".encode()
    acct.delete_certificate("sha1", TP)
    assert acct.get_certificate("sha1", TP)["state"] == "deletefailed"
    # Update Properties without certificateReferences removes them: the delete goes through
    acct.replace_pool_properties("p1", {"metadata": [], "applicationPackageReferences": []})
    acct.delete_certificate("sha1", TP)
    assert acct.list_certificates() == []
