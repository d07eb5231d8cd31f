#!/usr/bin/env bash
# curl through a running `l7lb serve`: routing, rewriting and the sticky
# cookie, asserted with grep. TestCurl (curl_test.go) starts the proxy with
# its configuration and runs this script with the proxy's address:
#
#   bash curl_test.sh 127.0.0.1:PORT
#
# The backends answer with X-Backend (their id) and X-Path (the request
# target they received).
set -euo pipefail

addr=${1:?usage: curl_test.sh HOST:PORT}
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT

fail() {
	echo "FAIL: $1" >&2
	printf '%s\n' "${2:-}" >&2
	exit 1
}

# fetch prints the response head and body, without the CRs of the head.
fetch() {
	curl -s -i --max-time 10 "$@" | tr -d '\r'
}

# has checks that response $2 has header line $1, "Name: value": the name
# compared case-insensitively, as HTTP does, the value exactly.
has() {
	local name=${1%%:*} value=${1#*: }
	grep -i "^$name: " <<<"$2" | sed 's/^[^:]*: //' | grep -qxF -- "$value"
}

# Host routing.
out=$(fetch -H 'Host: shop.example.com' "http://$addr/anything")
grep -q '^HTTP/1.1 200' <<<"$out" || fail "host routing: status" "$out"
has 'X-Backend: s1' "$out" || fail "host routing: want s1" "$out"

# Path routing with strip_prefix: the query and %2F are kept.
out=$(fetch "http://$addr/api/users?id=7&x=%2F")
has 'X-Backend: s2' "$out" || fail "path routing: want s2" "$out"
has 'X-Path: /users?id=7&x=%2F' "$out" || fail "rewrite: want /users?id=7&x=%2F" "$out"

# Insert-mode sticky cookie, with its documented attributes.
out=$(fetch -c "$jar" "http://$addr/rr/")
grep -qiE '^Set-Cookie: l7lb=[A-Za-z0-9_-]+\.[0-9]+\.[A-Za-z0-9_-]{22}; Path=/; HttpOnly; SameSite=Lax$' <<<"$out" ||
	fail "Set-Cookie shape" "$out"
first=$(grep -i '^X-Backend: ' <<<"$out" | sed 's/^[^:]*: //')
[ -n "$first" ] || fail "no X-Backend" "$out"

# The cookie keeps the client on that server; without it, round robin
# moves on.
for i in 1 2 3 4 5 6; do
	out=$(fetch -b "$jar" "http://$addr/rr/$i")
	has "X-Backend: $first" "$out" || fail "sticky request $i: want $first" "$out"
	if grep -qi '^Set-Cookie:' <<<"$out"; then fail "sticky request $i: cookie reissued" "$out"; fi
done
seen=$(for i in 1 2 3; do fetch "http://$addr/rr/"; done | grep -i '^X-Backend: ' | sort -u | wc -l)
[ "$seen" -ge 2 ] || fail "without the cookie 3 requests reached $seen server(s), want round robin"

# No route: 404 from the proxy itself.
out=$(fetch "http://$addr/nowhere")
grep -q '^HTTP/1.1 404' <<<"$out" || fail "no route: want 404" "$out"

echo "curl_test.sh: ok"
