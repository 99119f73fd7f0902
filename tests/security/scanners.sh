#!/usr/bin/env bash
# sqlmap and wapiti (Debian packages) against a seeded local Carreau: only ever 127.0.0.1.
#
#   tests/security/scanners.sh [--postgres postgresql://postgres@127.0.0.1:5432/DB]  (default: a new SQLite file)
#
# Environment: SQLMAP_SECONDS (per target, default 90), WAPITI_SECONDS (per run, default 180),
# SCAN_DIR (where logs and reports go; default a new temporary folder). Exit status 1 when a scanner
# reports an injection point or a vulnerability, or when the server answered 500 at any time.
# Results and their explanation: docs/scans.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
python="${PYTHON:-$root/.venv/bin/python}"
for tool in sqlmap wapiti; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y sqlmap wapiti" >&2; exit 2; }
done

database_url=""
if [ "${1:-}" = "--postgres" ]; then database_url="$2"; fi
scan_dir="${SCAN_DIR:-$(mktemp -d /tmp/carreau-scan.XXXXXX)}"
mkdir -p "$scan_dir"
var_dir="$scan_dir/var"
mkdir -p "$var_dir"
[ -n "$database_url" ] || database_url="sqlite:///$var_dir/carreau.db"

# The server's settings: nothing from the developer's environment or .env (run from $var_dir).
for name in $(env | grep -o '^CARREAU_[A-Z_]*' || true); do unset "$name"; done
export CARREAU_VAR_DIR="$var_dir" CARREAU_DATABASE_URL="$database_url" \
  CARREAU_SECRET_KEY="scanners-secret-key-0123456789abcdef0123" CARREAU_BASE_URL="http://127.0.0.1" \
  CARREAU_DEMO_PASSWORD="${CARREAU_DEMO_PASSWORD:-Balayeuse-du-terril-2027}" \
  PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
carreau() { (cd "$var_dir" && "$python" -c "from app.cli import main; main()" "$@"); }

echo "== versions"; dpkg-query -W sqlmap wapiti 2>/dev/null || true
echo "== seeding $database_url"
carreau db upgrade >"$scan_dir/seed.log" 2>&1
carreau seed demo >>"$scan_dir/seed.log" 2>&1

port=$("$python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
base="http://127.0.0.1:$port"
(cd "$var_dir" && exec "$python" -m uvicorn tests.security.scan_app:create_app --factory \
  --host 127.0.0.1 --port "$port" >"$scan_dir/server.log" 2>&1) &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$base/healthz" >/dev/null

"$python" -m tests.security.scan_targets "$base" "$database_url" "$scan_dir/auth"
auth="$scan_dir/auth"
findings=0

echo "== sqlmap (level 2, risk 1, ${SQLMAP_SECONDS:-90} s a target)"
while IFS=$'\t' read -r name method url body who; do
  [ "$body" != - ] || body=""
  args=(--batch --flush-session --level 2 --risk 1 --technique BEUST --time-sec 2 --threads 2
        --output-dir "$scan_dir/sqlmap" --skip csrf_token,carreau_csrf,carreau_session --disable-coloring)
  case "$who" in
    cookie_*) args+=(--cookie "$(cat "$auth/$who")" -H "X-CSRF-Token: $(cat "$auth/csrf_${who#cookie_}")") ;;
    bearer_admin) args+=(-H "Authorization: Bearer $(cat "$auth/bearer_admin")") ;;
    bearer) args+=(-H "Authorization: Bearer $(cat "$auth/bearer")") ;;
  esac
  if [ "$method" != GET ]; then
    body="${body//\{csrf\}/$(cat "$auth/csrf_resident")}"
    args+=(--method "$method" --data "$body")
    case "$body" in \{*) args+=(-H "Content-Type: application/json") ;; esac
  fi
  log="$scan_dir/sqlmap-$name.log"
  if [ "$method" = GET ]; then  # the untouched request must succeed, or sqlmap tests nothing
    header=(-H "Cookie: $(cat "$auth/cookie_resident")")
    case "$who" in
      cookie_*) header=(-H "Cookie: $(cat "$auth/$who")") ;;
      bearer*) header=(-H "Authorization: Bearer $(cat "$auth/$who")") ;;
    esac
    status=$(curl -s -o /dev/null -w "%{http_code}" "${header[@]}" "${url//\*/}")
    if [ "$status" != 200 ]; then
      echo "  $name: the untouched request answered $status: fix the target"; findings=$((findings + 1)); continue
    fi
  fi
  timeout "${SQLMAP_SECONDS:-90}" sqlmap -u "$url" "${args[@]}" >"$log" 2>&1 || true
  if grep -q "identified the following injection point" "$log"; then
    echo "  $name: INJECTION FOUND (see $log)"; findings=$((findings + 1))
  elif grep -q "500 (Internal Server Error)" "$log"; then
    echo "  $name: the server answered 500 (see $log)"; findings=$((findings + 1))
  else
    echo "  $name: $method, nothing found ($(grep -c "testing '" "$log" || true) tests)"
  fi
done <"$auth/targets.tsv"

# Debian's wapiti 3.0.4 compiles every exclusion with its "(?ms)" flags last, which Python 3.11
# refuses ("global flags not at the start"): the same function, flags first.
cat >"$scan_dir/wapiti.py" <<'PY'
import re, sys
from wapitiCore.net import crawler
crawler.wildcard_translate = lambda pattern: re.compile(
    "(?ms)" + ".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")
from wapitiCore.main.wapiti import wapiti_main
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
PY

echo "== wapiti (${WAPITI_SECONDS:-180} s a run, modules sql blindsql xss permanentxss exec file redirect crlf)"
for who in resident admin; do
  report="$scan_dir/wapiti-$who.json"
  # --max-scan-time bounds the crawl; each of the 8 modules gets --max-attack-time on top.
  timeout $(( ${WAPITI_SECONDS:-180} * 3 + 120 )) /usr/bin/python3 "$scan_dir/wapiti.py" -u "$base/" --scope folder \
    --flush-session -m "sql,blindsql,xss,permanentxss,exec,file,redirect,crlf" \
    --max-scan-time "${WAPITI_SECONDS:-180}" --max-attack-time $(( ${WAPITI_SECONDS:-180} / 4 )) -d 4 \
    --max-links-per-page 40 \
    -H "Cookie: $(cat "$auth/cookie_$who")" \
    -x "$base/deconnexion" -x "$base/compte/sessions/fermer" -x "$base/compte/supprimer" \
    -x "$base/compte/mot-de-passe" -x "$base/compte/jetons/*" -x "$base/langue/*" \
    -f json -o "$report" >"$scan_dir/wapiti-$who.log" 2>&1 || true
  count=$("$python" - "$report" <<'PY'
import json, sys
try:
    vulnerabilities = json.load(open(sys.argv[1]))["vulnerabilities"]
except (OSError, ValueError, KeyError):
    print("no report"); sys.exit()
found = {kind: len(items) for kind, items in vulnerabilities.items() if items}
for kind, items in vulnerabilities.items():
    for item in items:
        print(f"    {kind}: {item.get('method')} {item.get('path')} {item.get('parameter')} {item.get('info')}",
              file=sys.stderr)
print(sum(found.values()))
PY
)
  errors=$(grep -c "Received a HTTP 500 error" "$scan_dir/wapiti-$who.log" || true)
  echo "  $who: $count vulnerabilities reported (report $report), $errors answers 500"
  [ "$count" = 0 ] && [ "$errors" = 0 ] || findings=$((findings + 1))
done

if grep -q "Traceback\|500 Internal Server Error" "$scan_dir/server.log"; then
  echo "== the server logged errors: $scan_dir/server.log"; findings=$((findings + 1))
fi
echo "== done: logs in $scan_dir"
[ "$findings" = 0 ]
