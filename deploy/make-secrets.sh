#!/usr/bin/env bash
# Generate the secrets a wmiput deployment needs (deploy/README.md), with openssl:
#
#   ca.crt, ca.key      a private CA (ca.key stays here: nothing mounts it)
#   tls.crt, tls.key    the hosts' certificate, signed by the CA, for the names host1, host2,
#                       localhost, 127.0.0.1 and wmiput-host (the Kubernetes Service), plus --san
#   tokens              the hosts' tokens file: one line "admin <random token>"
#   admin-token         the same token alone, for clients (WMIPUT_TOKEN of the setup job)
#   task-key            the task key shared by hosts and workers (32 random bytes, hex)
#
# Usage: deploy/make-secrets.sh [--force] [--san NAME]... [DIR]     (DIR: default deploy/secrets)
#
# Idempotent: a file that exists is kept, unless --force regenerates everything. A new CA
# always gets a new host certificate with it, and so does a --san the certificate lacks.
#
# Permissions: DIR is 0700, so nobody else on this machine reaches the files; the files the
# containers read are 0644, because compose mounts them as they are and the containers run as
# another user (uid 10001). ca.key is 0600.
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

force=0
extra_sans=()
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --san) [ $# -ge 2 ] || { echo "make-secrets: --san needs a name" >&2; exit 2; }; extra_sans+=("$2"); shift ;;
    --san=*) extra_sans+=("${1#--san=}") ;;
    -h|--help) usage 0 ;;
    -*) echo "make-secrets: unknown option $1" >&2; usage 2 >&2 ;;
    *) [ -z "$dir" ] || { echo "make-secrets: one directory only" >&2; exit 2; }; dir="$1" ;;
  esac
  shift
done
dir="${dir:-$(cd "$(dirname "$0")" && pwd)/secrets}"
command -v openssl >/dev/null || { echo "make-secrets: openssl is not installed" >&2; exit 1; }

mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
umask 077

CA_DAYS=3650
HOST_DAYS=825
made=()

need() {  # need FILE...: true when any is missing, or with --force
  [ "$force" = 1 ] && return 0
  local f
  for f in "$@"; do [ -s "$f" ] || return 0; done
  return 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

new_ca=0
if need ca.crt ca.key; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
    -days "$CA_DAYS" -subj "/CN=wmiput CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt 2>/dev/null
  new_ca=1
  made+=(ca.crt ca.key)
fi

sans="DNS:host1,DNS:host2,DNS:localhost,IP:127.0.0.1,DNS:wmiput-host"
missing_san=0
for s in "${extra_sans[@]+"${extra_sans[@]}"}"; do
  if [[ "$s" =~ ^[0-9.]+$ || "$s" == *:* ]]; then s="IP:$s"; else s="DNS:$s"; fi
  sans="$sans,$s"
  if [ -s tls.crt ]; then
    have="$(openssl x509 -in tls.crt -noout -ext subjectAltName 2>/dev/null | tr -d ' ' | sed 's/IPAddress:/IP:/g')"
    [[ ",$have," == *",$s,"* ]] || missing_san=1
  fi
done

if [ "$new_ca" = 1 ] || [ "$missing_san" = 1 ] || need tls.crt tls.key; then
  cat >"$tmp/host.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans
EOF
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
    -subj "/CN=wmiput-host" -keyout tls.key -out "$tmp/host.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/host.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -CAserial "$tmp/ca.srl" \
    -days "$HOST_DAYS" -sha256 -extfile "$tmp/host.ext" -out tls.crt 2>/dev/null
  made+=(tls.crt tls.key)
fi

if need tokens admin-token; then
  token="$(openssl rand -hex 24)"
  printf '# <principal> <token>; the principals named in WMIPUT_ADMINS hold every right\nadmin %s\n' "$token" >tokens
  printf '%s\n' "$token" >admin-token
  made+=(tokens admin-token)
fi

if need task-key; then
  openssl rand -hex 32 >task-key
  made+=(task-key)
fi

chmod 600 ca.key
chmod 644 ca.crt tls.crt tls.key tokens admin-token task-key

if [ ${#made[@]} -eq 0 ]; then
  echo "make-secrets: everything is already in $dir (--force to regenerate)"
else
  echo "make-secrets: wrote ${made[*]} in $dir"
fi
