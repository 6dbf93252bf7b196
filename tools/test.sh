#!/usr/bin/env bash
# The whole test suite (README command 2): installs what the tests need, builds, lints, starts MariaDB,
# then runs the independent suites in parallel and prints one summary line.
#   unit + api   pure logic, and every route on SQLite and MariaDB (supertest against a real server)
#   e2e          the real openstack CLI, openstacksdk and the all-in-one command
#   tempest      Tempest 33 identity, image and network tests against a real kvmstack
#   lab          real libvirt/QEMU guests: the libvirt driver, the tiny image, the multi-host lab (GlusterFS)
# KVMSTACK_TEST_SUITES=unit,api,e2e,tempest,lab selects suites. The lab runs after the others: its TCG guests
# would compete with them for CPU.
set -uo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$root"

bash tools/install-deps.sh test || exit 1
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-fund --no-audit --loglevel=error >/dev/null || exit 1
fi
echo "==> build"
rm -rf dist && npx --no-install tsc -p tsconfig.json || exit 1
touch dist/.build-stamp
echo "==> lint"
npm run --silent lint || exit 1
bash tools/mariadb.sh || exit 1

suites=${KVMSTACK_TEST_SUITES:-unit,api,e2e,tempest,lab}
logs=$(mktemp -d)
declare -A dirs=([unit]=dist/test/unit [api]=dist/test/api [e2e]=dist/test/e2e [tempest]=dist/test/tempest [lab]=dist/test/lab)
# unit and api share a runner (both are quick); e2e and tempest start their own clouds and run beside them.
groups=()
[[ ,$suites, == *,unit,* || ,$suites, == *,api,* ]] && groups+=(fast)
[[ ,$suites, == *,e2e,* ]] && groups+=(e2e)
[[ ,$suites, == *,tempest,* ]] && groups+=(tempest)
later=()
[[ ,$suites, == *,lab,* ]] && later+=(lab)

run_group() {
  local g=$1 targets=()
  case $g in
    fast)
      [[ ,$suites, == *,unit,* ]] && targets+=("${dirs[unit]}")
      [[ ,$suites, == *,api,* ]] && targets+=("${dirs[api]}")
      ;;
    *) targets=("${dirs[$g]}") ;;
  esac
  # A hung test fails after 10 minutes instead of holding CI; once every test has ended, a handle left open
  # by mistake cannot keep the runner waiting.
  # The lab files one at a time: a machine holds one lab (and its TCG guests want the CPU).
  local concurrency=2
  [ "$g" = lab ] && concurrency=1
  node --test --test-concurrency=$concurrency --test-timeout=600000 --test-force-exit --test-reporter=spec "${targets[@]}" >"$logs/$g.log" 2>&1
  echo $? >"$logs/$g.rc"
}

started=$(date +%s)
for g in "${groups[@]}"; do
  echo "==> suite $g started"
  run_group "$g" &
done
wait
for g in "${later[@]}"; do
  echo "==> suite $g started"
  run_group "$g"
done
groups+=("${later[@]}")

pass=0 fail=0 skip=0 status=0
for g in "${groups[@]}"; do
  echo
  echo "================ suite: $g ================"
  cat "$logs/$g.log"
  p=$(grep -E '^ℹ pass [0-9]+' "$logs/$g.log" | tail -1 | awk '{print $3}')
  f=$(grep -E '^ℹ fail [0-9]+' "$logs/$g.log" | tail -1 | awk '{print $3}')
  s=$(grep -E '^ℹ skipped [0-9]+' "$logs/$g.log" | tail -1 | awk '{print $3}')
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0})); skip=$((skip + ${s:-0}))
  rc=$(cat "$logs/$g.rc")
  if [ "$rc" != 0 ] || [ -z "$p" ]; then status=1; echo "suite $g FAILED (exit $rc)"; fi
done
rm -rf "$logs"
echo
echo "suites: ${groups[*]} in $(( $(date +%s) - started )) s"
echo "total: $pass passed, $fail failed, $skip skipped"
[ "$pass" -gt 0 ] || status=1
# Every test must run here: tools/install-deps.sh installed what they need, so a skip is a failure.
if [ "$skip" -gt 0 ]; then
  echo "$skip test(s) skipped: every test must run (see the skip reasons above)"
  status=1
fi
exit $status
