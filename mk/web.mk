# mk/web.mk: the independent proof verifier in JavaScript (web/, docs/verifier.md).
# Included by the root Makefile before its rules. Its integration tests
# (t0610-proof-js, t0620-proof-web) run with the others under `make test`.
#   make web         npm ci in web/, then rebuild web/vendor/noble-secp256k1.js
#                    and web/verify.html (both committed) with web/build.js
#   make web-check   npm ci, then check both are what build.js makes
#   make web-unit    the verifier's unit tests (node --test; no C, no network)

web:
	cd web && npm ci --no-audit --no-fund --loglevel=error && node build.js

web-check:
	cd web && npm ci --no-audit --no-fund --loglevel=error && node build.js --check

web-unit:
	cd web && node --test test/*.test.js

.PHONY: web web-check web-unit
