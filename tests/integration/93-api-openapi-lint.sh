#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# src/api/openapi.yaml is the API's contract: a real OpenAPI validator (@redocly/cli, pinned in
# tests/api/package.json, installed by ./dev.sh with npm) lints it with its recommended rules
# (tests/api/redocly.yaml says which three do not fit a unix-socket API), and must refuse two
# broken copies (so the lint can fail). The spec's paths and the route table in
# src/api/routes.c must name the same routes with the same methods.
set -u
fail=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fail=1; }
SPEC=$SRC_DIR/src/api/openapi.yaml
TOOLS=$SRC_DIR/tests/api
REDOCLY=$TOOLS/node_modules/.bin/redocly
PY=/usr/bin/python3

# The route table and the spec agree (no validator needed for this part).
if $PY -c 'import yaml' 2>/dev/null; then
	code=$(sed -nE 's/^\s*\{"([a-z.-]+)", "(GET|PUT)", API_.*/\2 \1/p' "$SRC_DIR/src/api/routes.c" | sort)
	spec=$($PY -c "import yaml
d = yaml.safe_load(open('$SPEC'))
for p, ops in d['paths'].items():
    for m in ops: print(m.upper(), p[1:])" | sort)
	if [ -n "$code" ] && [ "$code" = "$spec" ]; then
		ok "routes.c and openapi.yaml name the same $(echo "$code" | wc -l) routes and methods"
	else
		notok "routes.c and openapi.yaml differ: $(diff <(echo "$code") <(echo "$spec") | tr '\n' ' ')"
	fi
else
	echo "# python3-yaml missing: route table check skipped"
fi

if [ ! -x "$REDOCLY" ]; then
	echo "skip: @redocly/cli is not installed (./dev.sh setup installs it with npm into tests/api)"
	[ $fail = 0 ] && exit 77
	exit $fail
fi
lint() { (cd "$TOOLS" && NO_COLOR=1 timeout 300 "$REDOCLY" lint --config redocly.yaml --format=summary "$1" 2>&1); }
if out=$(lint "$SPEC"); then
	ok "redocly lint: openapi.yaml is valid"
else
	notok "redocly lint: $(echo "$out" | grep -E 'error|warning' | head -5 | tr '\n' ' ')"
fi
sed 's|#/components/schemas/VmConfig"|#/components/schemas/VmConfigMissing"|' "$SPEC" >"$WORK/broken-ref.yaml"
if lint "$WORK/broken-ref.yaml" >"$WORK/broken-ref.log"; then
	notok "redocly lint accepted a \$ref to a missing schema"
else
	ok "redocly lint refuses a \$ref to a missing schema"
fi
sed 's|^        "204":$|        "2O4":|' "$SPEC" >"$WORK/broken-status.yaml"
if lint "$WORK/broken-status.yaml" >"$WORK/broken-status.log"; then
	notok "redocly lint accepted a malformed status code"
else
	ok "redocly lint refuses a malformed status code"
fi
exit $fail
