#!/usr/bin/env bash
# Runs openactive-test-suite against the sandbox booking system (DECISIONS §9, openactive.md §6).
#
#   scripts/conformance.sh <path-to-openactive-test-suite-clone> [feature or category …]
#
# The clone must already be installed (see docs/conformance.md); this script never installs or
# builds it. It
#   1. seeds the validators' offline activity-list cache in the clone from our vendored copy,
#   2. builds the suite's configuration for the sandbox and passes it as NODE_CONFIG,
#   3. starts the sandbox (`node bin/activehub.js sandbox`, fresh temporary data) unless one
#      already answers at $SANDBOX_URL,
#   4. runs the suite (`npm start -- <args>` in the clone) and prints the summary.
#
# Environment:
#   SANDBOX_URL              sandbox base URL (default http://localhost:3100)
#   CONFORMANCE_FEATURES     comma-separated features to mark implemented (default: the list below)
#   CONFORMANCE_TYPES        comma-separated opportunity types (default ScheduledSession,IndividualFacilityUseSlot)
#   CONFORMANCE_WORKERS      test files run in parallel (the suite's maximumNumberOfSimultaneousBookings; default 4)
#   CONFORMANCE_LOG          where the full suite output goes (default $TMPDIR/activehub-conformance.log)
#   CONFORMANCE_SESSIONS     ScheduledSessions the started sandbox generates (default 300; the suite
#                            makes its own opportunities through the test interface, so the generated
#                            data only feeds the harvest and its validation)
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1" ]]; then
  echo "usage: $0 <path-to-openactive-test-suite-clone> [feature or category …]" >&2
  exit 2
fi

SUITE_DIR="$(cd "$1" && pwd)"
shift
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SANDBOX_URL="${SANDBOX_URL:-http://localhost:3100}"
SANDBOX_URL="${SANDBOX_URL%/}"
LOG_FILE="${CONFORMANCE_LOG:-${TMPDIR:-/tmp}/activehub-conformance.log}"

# The features the sandbox implements. Every other key of the suite's default.json is set to
# null (skipped): listing every key matters, since absent keys fall back to the defaults,
# which are mostly `true` (openactive.md §6.6).
DEFAULT_FEATURES="dataset-site,agent-broker,amending-order-quote,availability-check,common-error-conditions,order-deletion,free-opportunities,non-free-opportunities,customer-requested-cancellation,seller-requested-cancellation,anonymous-leasing,named-leasing"
FEATURES="${CONFORMANCE_FEATURES:-$DEFAULT_FEATURES}"
TYPES="${CONFORMANCE_TYPES:-ScheduledSession,IndividualFacilityUseSlot}"
WORKERS="${CONFORMANCE_WORKERS:-4}"

for package in openactive-broker-microservice openactive-integration-tests; do
  if [[ ! -d "$SUITE_DIR/packages/$package/node_modules" ]]; then
    echo "error: $SUITE_DIR/packages/$package is not installed; see docs/conformance.md" >&2
    exit 2
  fi
done

# 1. Offline activity list. The validator caches remote JSON in ./tmp (relative to each package)
# under sha256(url); a fetchTime far in the future keeps the entry fresh. A failed fetch is also
# cached, so the file is rewritten on every run (openactive.md §4).
node - "$REPO_DIR/vendor/openactive/activity-list.jsonld" "$SUITE_DIR" <<'NODE'
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const [listFile, suiteDir] = process.argv.slice(2);
const url = 'https://openactive.io/activity-list';
const key = crypto.createHash('sha256').update(url).digest('hex');
const entry = {
  errorCode: 'error_none',
  data: JSON.parse(fs.readFileSync(listFile, 'utf8')),
  statusCode: 200,
  url,
  exception: null,
  contentType: 'application/ld+json',
  fetchTime: Date.parse('2100-01-01T00:00:00Z'),
};
for (const pkg of ['openactive-broker-microservice', 'openactive-integration-tests']) {
  const dir = path.join(suiteDir, 'packages', pkg, 'tmp');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${key}.json`), JSON.stringify(entry));
}
NODE

# 2. Configuration.
NODE_CONFIG="$(node - "$SUITE_DIR/config/default.json" "$SANDBOX_URL" "$FEATURES" "$TYPES" "$WORKERS" <<'NODE'
const fs = require('node:fs');
const [defaultFile, base, featureList, typeList, workers] = process.argv.slice(2);
const defaults = JSON.parse(fs.readFileSync(defaultFile, 'utf8'));
const implemented = new Set(featureList.split(',').map((s) => s.trim()).filter(Boolean));
const types = new Set(typeList.split(',').map((s) => s.trim()).filter(Boolean));

const implementedFeatures = {};
for (const feature of Object.keys(defaults.integrationTests.implementedFeatures)) {
  implementedFeatures[feature] = implemented.has(feature) ? true : null;
}
for (const feature of implemented) {
  if (!(feature in implementedFeatures)) {
    process.stderr.write(`error: "${feature}" is not a feature of this test suite\n`);
    process.exit(2);
  }
}
const bookableOpportunityTypesInScope = {};
for (const type of Object.keys(defaults.integrationTests.bookableOpportunityTypesInScope)) {
  bookableOpportunityTypesInScope[type] = types.has(type);
}

// Booking partners authenticate with the sandbox's test header (openactive.md §1.13). Keys
// present in default.json that we do not use are set to null, because NODE_CONFIG is merged
// into default.json rather than replacing it.
const partner = (id) => ({
  authentication: {
    initialAccessToken: null,
    clientCredentials: null,
    ordersFeedRequestHeaders: { 'X-OpenActive-Test-Client-Id': id },
  },
});
const seller = (id, taxMode) => ({
  '@type': 'Organization',
  '@id': `${base}/api/identifiers/sellers/${id}`,
  taxMode,
  paymentReconciliationDetails: null,
  authentication: {
    loginCredentials: null,
    clientCredentials: null,
    requestHeaders: {
      'X-OpenActive-Test-Client-Id': 'booking-partner-1',
      'X-OpenActive-Test-Seller-Id': `${base}/api/identifiers/sellers/${id}`,
    },
  },
});

const config = {
  ci: true,
  consoleOutputLevel: 'dot',
  broker: {
    datasetSiteUrl: `${base}/openactive`,
    bookingPartners: { primary: partner('booking-partner-1'), secondary: partner('booking-partner-2') },
  },
  integrationTests: {
    useRandomOpportunities: false,
    // Parallel test files; lower it on a small machine if feed waits time out.
    maximumNumberOfSimultaneousBookings: Number(workers),
    bookableOpportunityTypesInScope,
    bookingFlowsInScope: { OpenBookingSimpleFlow: true, OpenBookingApprovalFlow: false },
    implementedFeatures,
    testDatasetIdentifier: 'uat-ci',
    generateConformanceCertificate: false,
  },
  sellers: {
    primary: seller(1, 'https://openactive.io/TaxGross'),
    secondary: seller(2, 'https://openactive.io/TaxNet'),
  },
};
process.stdout.write(JSON.stringify(config));
NODE
)"
export NODE_CONFIG

# 3. The sandbox.
SANDBOX_PID=""
SANDBOX_DIR=""
cleanup() {
  if [[ -n "$SANDBOX_PID" ]]; then
    kill "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
  fi
  if [[ -n "$SANDBOX_DIR" ]]; then rm -rf "$SANDBOX_DIR"; fi
}
trap cleanup EXIT

if curl -fsS -o /dev/null --max-time 5 "$SANDBOX_URL/openactive" 2>/dev/null; then
  echo "Using the sandbox already running at $SANDBOX_URL"
else
  port="$(node -e 'const u = new URL(process.argv[1]); process.stdout.write(u.port || (u.protocol === "https:" ? "443" : "80"))' "$SANDBOX_URL")"
  SANDBOX_DIR="$(mktemp -d "${TMPDIR:-/tmp}/activehub-sandbox-XXXXXX")"
  echo "Starting the sandbox at $SANDBOX_URL (data in $SANDBOX_DIR, log in $SANDBOX_DIR/sandbox.log)"
  (
    cd "$REPO_DIR"
    SANDBOX_PORT="$port" SANDBOX_PUBLIC_URL="$SANDBOX_URL" SANDBOX_DATA_DIR="$SANDBOX_DIR/data" \
      SANDBOX_DATABASE_URL="" SANDBOX_SESSIONS="${CONFORMANCE_SESSIONS:-300}" SANDBOX_CHURN_SECONDS=0 LOG_LEVEL="${LOG_LEVEL:-warn}" \
      exec node bin/activehub.js sandbox
  ) >"$SANDBOX_DIR/sandbox.log" 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null --max-time 2 "$SANDBOX_URL/openactive" 2>/dev/null; then break; fi
    if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
      echo "error: the sandbox exited; its log:" >&2
      cat "$SANDBOX_DIR/sandbox.log" >&2
      exit 1
    fi
    sleep 1
  done
  curl -fsS -o /dev/null --max-time 5 "$SANDBOX_URL/openactive" || {
    echo "error: the sandbox did not start within 120 s" >&2
    exit 1
  }
fi

# 4. The run.
echo "Features: $FEATURES"
echo "Opportunity types: $TYPES; flow: OpenBookingSimpleFlow; full output: $LOG_FILE"
started=$(date +%s)
set +e
(cd "$SUITE_DIR" && NODE_OPTIONS="${NODE_OPTIONS:-} --require $REPO_DIR/scripts/conformance-agent.cjs" npm start -- "$@") \
  >"$LOG_FILE" 2>&1
status=$?
set -e
elapsed=$(($(date +%s) - started))

echo
grep -E '^(Test Suites|Tests|Snapshots|Time):' "$LOG_FILE" || tail -n 40 "$LOG_FILE"
if grep -qE '^\s+● ' "$LOG_FILE"; then
  echo
  echo "Failing tests:"
  grep -E '^\s+● ' "$LOG_FILE" | sed -E 's/^\s+//' | sort | uniq | head -n 60
fi
printf '\nWall time: %dm %02ds (exit status %d)\n' $((elapsed / 60)) $((elapsed % 60)) "$status"
exit "$status"
