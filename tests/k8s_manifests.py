"""Checks deploy/k8s/: every manifest against Kubernetes' schemas (kubernetes-validate, offline,
strict), then that the files agree with each other and with docs/protocol.md. Exit 1 on any fault."""
import glob
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S_DIR = os.path.join(ROOT, "deploy", "k8s")
KUBERNETES_VERSION = "1.29.0"
APP = "agent-bridge"


def load(paths):
    docs = {}
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def port_number(container, port):
    # A probe or Service names a container port by name or by number.
    for p in container.get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    return None


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check(docs, protocol):
    faults = []

    def expect(ok, what):
        if not ok:
            faults.append(what)

    deploy = docs[("Deployment", APP)]
    pod = deploy["spec"]["template"]
    spec = pod["spec"]
    container = spec["containers"][0]
    env = env_of(container)
    labels = pod["metadata"]["labels"]
    admin = int(env["BRIDGE_ADMIN_LISTEN"].rsplit(":", 1)[1])
    public = int(env["BRIDGE_LISTEN"].rsplit(":", 1)[1])

    # Probes: /readyz and /healthz on the admin port, as docs/protocol.md serves them there.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        expect(get["path"] == path, f"{probe} asks {get['path']}, not {path}")
        expect(port_number(container, get["port"]) == admin,
               f"{probe} port {get['port']} is not the admin port {admin}")
        expect(f"`GET {path}`" in protocol, f"docs/protocol.md does not serve {path}")
    expect("admin port" in protocol and "`GET /metrics`" in protocol,
           "docs/protocol.md no longer describes the admin port's /metrics")
    expect(port_number(container, "http") == public, f"container port http is not BRIDGE_LISTEN's {public}")
    annotations = pod["metadata"].get("annotations", {})
    expect(annotations.get("prometheus.io/port") == str(admin), "prometheus.io/port is not the admin port")

    # Grace period: preStop sleep + drain timeout + 2 s for the Kafka side must fit in it.
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    expect(pre_stop[0] == "sleep", f"preStop is not a sleep: {pre_stop}")
    sleep_s = float(pre_stop[1])
    drain_s = int(env["BRIDGE_DRAIN_TIMEOUT_MS"]) / 1000
    grace = spec["terminationGracePeriodSeconds"]
    expect(grace > sleep_s + drain_s + 2,
           f"terminationGracePeriodSeconds {grace} <= preStop {sleep_s} + drain {drain_s} + 2")

    # The key file the env names is a key of the Secret mounted at that directory.
    key_env = "BRIDGE_JWT_SECRET_FILE" if env.get("BRIDGE_JWT_ALG", "HS256") == "HS256" else "BRIDGE_JWT_PUBLIC_KEY_FILE"
    key_path = env.get(key_env)
    expect(key_path is not None, f"{key_env} is not set for {env.get('BRIDGE_JWT_ALG')}")
    if key_path:
        key_dir, key_name = os.path.split(key_path)
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        secret_names = [volumes[n]["secret"]["secretName"] for n, path in mounts.items()
                        if path == key_dir and "secret" in volumes.get(n, {})]
        expect(len(secret_names) == 1, f"no Secret volume is mounted at {key_dir}")
        for name in secret_names:
            secret = docs.get(("Secret", name))
            expect(secret is not None, f"Secret {name} is not in deploy/k8s/")
            if secret:
                keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
                expect(key_name in keys, f"Secret {name} has no key {key_name} (keys: {sorted(keys)})")
                # The placeholder must fail closed: HS256 refuses secrets under 32 bytes.
                placeholder = secret.get("stringData", {}).get(key_name, "")
                if "REPLACE" in placeholder:
                    expect(len(placeholder.encode()) < 32, "the placeholder secret is long enough to be used")

    # Everything that selects the pods selects them by their labels.
    def selects(selector):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    expect(selects(deploy["spec"]["selector"]["matchLabels"]), "the Deployment's selector misses its pods")
    for name in (APP, f"{APP}-admin"):
        svc = docs[("Service", name)]["spec"]
        expect(selects(svc["selector"]), f"Service {name} does not select the pods")
    for p in docs[("Service", APP)]["spec"]["ports"]:
        expect(port_number(container, p["targetPort"]) == public, f"Service {APP} targets {p['targetPort']}, not {public}")
    for p in docs[("Service", f"{APP}-admin")]["spec"]["ports"]:
        expect(port_number(container, p["targetPort"]) == admin, f"Service {APP}-admin targets {p['targetPort']}")
    expect(selects(docs[("PodDisruptionBudget", APP)]["spec"]["selector"]["matchLabels"]), "the PDB misses the pods")
    policy = docs[("NetworkPolicy", APP)]["spec"]
    expect(selects(policy["podSelector"]["matchLabels"]), "the NetworkPolicy misses the pods")
    allowed = sorted(p["port"] for rule in policy["ingress"] for p in rule["ports"])
    expect(allowed == sorted([public, admin]), f"the NetworkPolicy lets in {allowed}, not {public} and {admin}")
    target = docs[("HorizontalPodAutoscaler", APP)]["spec"]["scaleTargetRef"]
    expect((target["kind"], target["name"]) == ("Deployment", APP), "the HPA scales something else")
    return faults


def main():
    paths = sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml")) + glob.glob(os.path.join(K8S_DIR, "*.yml")))
    if not paths:
        print("no manifests in deploy/k8s/")
        return 1
    schema = subprocess.run([sys.executable, "-m", "kubernetes_validate", "-k", KUBERNETES_VERSION,
                             "--strict", "--quiet", *paths])
    with open(os.path.join(ROOT, "docs", "protocol.md")) as f:
        protocol = f.read()
    faults = check(load(paths), protocol)
    for fault in faults:
        print("FAIL", fault)
    print(f"{len(paths)} manifests: schemas {'ok' if schema.returncode == 0 else 'FAILED'}, "
          f"{len(faults)} consistency faults")
    return 0 if schema.returncode == 0 and not faults else 1


if __name__ == "__main__":
    sys.exit(main())
