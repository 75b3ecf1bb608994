#!/usr/bin/env bash
# A self-signed TLS certificate for development and tests: a small local CA and a server
# certificate for localhost, 127.0.0.1 and ::1 signed by it. Not for production: use a
# certificate from your CA there (docs/deploy.md). `scripts/make-cert.sh --help` tells how.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
Usage: scripts/make-cert.sh [--force] [--quiet] [DIR]

Makes, with openssl, in DIR (default: <repo>/deploy/tls, which git ignores):
  ca.pem, ca-key.pem    a local CA (EC P-256, 10 years); trust ca.pem where clients run
  cert.pem, key.pem     the server certificate (EC P-256, 825 days) for localhost,
                        127.0.0.1 and ::1, signed by the CA; what nginx serves

Existing files are kept: a CA already in DIR is reused (clients that trust it keep trusting
the new server certificate), and a server certificate is made only when it is missing, not
signed by that CA, or expires within 30 days. --force makes all four again.
Keys are mode 0600. --quiet prints nothing but errors.
EOF
}

die() { echo "make-cert.sh: error: $*" >&2; exit 1; }

force=0 quiet=0 dir=""
while (($#)); do
  case "$1" in
    --force) force=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$dir" ]] || die "one directory only (see --help)"; dir="$1"; shift ;;
  esac
done
[[ -n "$dir" ]] || dir="$root/deploy/tls"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

tmp="$(mktemp -d "$dir/.make-cert.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
umask 077

ca_ok() { [[ -s "$dir/ca.pem" && -s "$dir/ca-key.pem" ]]; }
# Present, signed by the CA in DIR, valid for 30 more days.
server_ok() {
  [[ -s "$dir/cert.pem" && -s "$dir/key.pem" ]] \
    && openssl verify -CAfile "$dir/ca.pem" "$dir/cert.pem" >/dev/null 2>&1 \
    && openssl x509 -in "$dir/cert.pem" -noout -checkend $((30 * 86400)) >/dev/null
}

# The extensions, from files of our own: the system's openssl.cnf is not read.
cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = agent-bridge local development CA
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
cat >"$tmp/server.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

made=()
if ((force)) || ! ca_ok; then
  openssl req -x509 -new -config "$tmp/ca.cnf" -extensions ca -days 3650 -sha256 \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/ca-key.pem" -out "$tmp/ca.pem" 2>"$tmp/err" || { cat "$tmp/err" >&2; die "could not make the CA"; }
  chmod 0644 "$tmp/ca.pem"
  mv -f "$tmp/ca-key.pem" "$tmp/ca.pem" "$dir/"
  made+=(ca.pem ca-key.pem)
  force=1  # a new CA needs a new server certificate
fi
if ((force)) || ! server_ok; then
  openssl req -new -config "$tmp/server.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/server.csr" 2>"$tmp/err" || { cat "$tmp/err" >&2; die "could not make the server key"; }
  openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$tmp/server.cnf" -extensions server -out "$tmp/cert.pem" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "could not sign the server certificate"; }
  chmod 0644 "$tmp/cert.pem"
  mv -f "$tmp/key.pem" "$tmp/cert.pem" "$dir/"
  made+=(cert.pem key.pem)
fi
chmod 0600 "$dir/ca-key.pem" "$dir/key.pem"

((quiet)) && exit 0
if ((${#made[@]})); then echo "made ${made[*]} in $dir"; else echo "kept the certificate in $dir (--force makes a new one)"; fi
cat <<EOF
  $dir/cert.pem       server certificate for localhost, 127.0.0.1, ::1 (until $(openssl x509 -in "$dir/cert.pem" -noout -enddate | cut -d= -f2))
  $dir/key.pem        its private key (mode 0600; never commit it)
  $dir/ca.pem         the CA that signed it: trust this one where clients run
  $dir/ca-key.pem     the CA's key (mode 0600): keep it private, or delete it once you need no new certificate

Trust ca.pem (development machines only):
  Debian/Ubuntu  sudo cp $dir/ca.pem /usr/local/share/ca-certificates/agent-bridge-dev.crt && sudo update-ca-certificates
  macOS          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain $dir/ca.pem
  Firefox        Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
  one command    curl --cacert $dir/ca.pem ...   NODE_EXTRA_CA_CERTS=$dir/ca.pem node ...
  Python         ssl.create_default_context(cafile="$dir/ca.pem")
EOF
