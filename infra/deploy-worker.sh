#!/usr/bin/env bash
# Deploys the gateway worker to Cloudflare, creating whatever wrangler.toml binds that is missing.
#
#   infra/deploy-worker.sh [--secret NAME]…        create D1 databases and KV namespaces if missing,
#                                                  apply D1 migrations, upload secrets, deploy
#   infra/deploy-worker.sh --dry-run [--outdir DIR]   bundle only, offline, no account needed (CI)
#
# Needs `wrangler login` or CLOUDFLARE_API_TOKEN (+ CLOUDFLARE_ACCOUNT_ID) except for --dry-run.
# Secrets are read from the environment: ADMIN_TOKEN, every name in wrangler.toml's
# `[secrets] required`, the secret_name of each backend in its BACKENDS var, and each --secret
# NAME (a backend registered through the admin API); an unset one keeps the deployed value.
#
# Binding names, database names and Durable Object classes all come from wrangler.toml (through
# infra/wrangler-config.ts). Resource ids are resolved on the account at each run and handed to
# wrangler in a generated config, so wrangler.toml keeps no account-specific ids.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

dry_run=false
outdir=""
extra_secrets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true ;;
    --outdir)
      [ $# -ge 2 ] || { echo "deploy-worker: --outdir needs a directory" >&2; exit 2; }
      outdir=$2
      shift
      ;;
    --secret)
      [ $# -ge 2 ] || { echo "deploy-worker: --secret needs a variable name" >&2; exit 2; }
      extra_secrets+=("$2")
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy-worker: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

wrangler() { npx --no-install wrangler "$@"; }
config_tool() { node --import tsx infra/wrangler-config-cli.ts "$@"; }

# Beside wrangler.toml, so that its relative paths (main, migrations_dir) mean the same.
deploy_config=.wrangler.deploy.json
secrets_file=$(mktemp)
trap 'rm -f "$deploy_config" "$secrets_file"' EXIT

step() { printf '\n== %s\n' "$*"; }

# Each helper's output is captured before it is read, so that its failure stops the script.
durable_objects=$(config_tool durable-objects)
step "Durable Objects (wrangler deploy creates them from [[migrations]])"
while IFS=$'\t' read -r binding class; do
  if [ -n "$binding" ]; then echo "$binding -> class $class"; fi
done <<<"$durable_objects"

if $dry_run; then
  export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
  outdir=${outdir:-$(mktemp -d)}
  step "Bundle (dry run, nothing is created or uploaded)"
  config_tool write-config "$deploy_config"
  wrangler deploy --dry-run --outdir "$outdir" --config "$deploy_config"
  echo "bundle written to $outdir"
  exit 0
fi

resources=$(config_tool resources)
step "D1 databases and KV namespaces"
ids=()
while IFS=$'\t' read -r kind binding name configured_id; do
  case "$kind" in
    d1)
      id=$(wrangler d1 list --json | config_tool find-d1 "$name")
      if [ -z "$id" ]; then
        echo "creating D1 database $name"
        wrangler d1 create "$name" >/dev/null
        id=$(wrangler d1 list --json | config_tool find-d1 "$name")
      fi
      ;;
    kv)
      id=$(wrangler kv namespace list | config_tool find-kv "$name" "$configured_id")
      if [ -z "$id" ]; then
        echo "creating KV namespace $name"
        wrangler kv namespace create "$name" >/dev/null
        id=$(wrangler kv namespace list | config_tool find-kv "$name")
      fi
      ;;
    *) continue ;;
  esac
  [ -n "$id" ] || { echo "deploy-worker: could not find or create $kind $name" >&2; exit 1; }
  echo "$binding -> $kind $name ($id)"
  ids+=("$binding=$id")
done <<<"$resources"
# The ${a[@]+…} form, here and below: macOS's bash 3.2 calls an empty array unbound under `set -u`.
config_tool write-config "$deploy_config" ${ids[@]+"${ids[@]}"}

step "D1 migrations"
while IFS=$'\t' read -r kind binding _ _; do
  if [ "$kind" = d1 ]; then
    wrangler d1 migrations apply "$binding" --remote --config "$deploy_config"
  fi
done <<<"$resources"

secret_states=$(config_tool secrets "$secrets_file" ${extra_secrets[@]+"${extra_secrets[@]}"})
step "Secrets"
while IFS=$'\t' read -r name state; do
  if [ "$state" = set ]; then echo "$name: uploading"; else echo "$name: not in the environment, keeping the deployed value"; fi
done <<<"$secret_states"

step "Deploy"
# Secrets go up with the deployment itself (not `wrangler secret put` before it): a first deploy has
# no worker to put them on yet, and the new version never runs without them.
wrangler deploy --config "$deploy_config" --secrets-file "$secrets_file"
