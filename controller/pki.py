"""The control channels' certificates: a CA, the controller's certificate, one per hypervisor.

``qnet-manage pki init DIR`` makes the CA and the controller's key and certificate;
``qnet-manage pki hypervisor NAME`` one hypervisor's, with the subject CN = NAME = its
``system-id``: the OVSDB manager refuses a connection whose certificate names another
system-id than its database claims (apps/ovsdb_manager.py), so a hypervisor cannot pose as
another one, and OpenFlow and OVSDB refuse certificates not signed by this CA.

Made with the ``cryptography`` package rather than ``ovs-pki``: ovs-pki is a shell script around
the openssl command line with its own directory layout and interactive prompts, shipped only
with the OVS common package on the hypervisors; the controller host may have neither, and
tests need certificates with chosen names, lifetimes and signers in-process.

Files in DIR (keys 0600): cacert.pem, cakey.pem; controller-cert.pem, controller-privkey.pem;
NAME-cert.pem, NAME-privkey.pem per hypervisor. The layout is what ``qnet serve --tls-*`` and
``qnet-manage hypervisor add --pki-dir`` expect.
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "qnet CA"      # + a random suffix: two installations' CAs never share a name
CONTROLLER = "controller"
LIFETIME = datetime.timedelta(days=3650)


def paths(directory, name):
    """(private key, certificate) paths of ``name`` ('ca', 'controller' or a hypervisor)."""
    if name == "ca":
        return os.path.join(directory, "cakey.pem"), os.path.join(directory, "cacert.pem")
    return (os.path.join(directory, f"{name}-privkey.pem"),
            os.path.join(directory, f"{name}-cert.pem"))


def ca_certificate(directory):
    return paths(directory, "ca")[1]


def init(directory):
    """Make the CA and the controller's certificate in ``directory``; refuse to replace a CA
    (every hypervisor's certificate depends on it). Returns the paths written."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key_path, cert_path = paths(directory, "ca")
    if os.path.exists(key_path) or os.path.exists(cert_path):
        raise FileExistsError(f"{directory} already holds a CA ({cert_path})")
    key = ec.generate_private_key(ec.SECP256R1())
    # A unique name: OpenSSL looks a peer's issuer up by name, so another qnet CA's
    # certificate is then refused as "unknown CA", not as a failed signature check.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"{CA_NAME} {os.urandom(6).hex()}")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write(key_path, cert_path, key, cert)
    return [cert_path, key_path, *issue(directory, CONTROLLER)]


def issue(directory, name):
    """Make ``name``'s key and a certificate signed by the CA in ``directory`` (CN = name,
    usable as TLS client and server). Returns the paths written (certificate, key)."""
    if not name or "/" in name or name.startswith(".") or name == "ca":
        raise ValueError(f"{name!r} cannot name a certificate")
    ca_key_path, ca_cert_path = paths(directory, "ca")
    with open(ca_key_path, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(ca_cert_path, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_path, cert_path = paths(directory, name)
    _write(key_path, cert_path, key, cert)
    return [cert_path, key_path]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _write(key_path, cert_path, key, cert):
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
