#!/usr/bin/env bash
# One [cuda] test case under one compute-sanitizer tool (called by round.sh sanitize_cases through
# xargs -P). Arguments: TOOL, then "INDEX<TAB>CASE NAME". Writes $CASE_DIR/TOOL.INDEX.log and a
# one-line result TOOL.INDEX.result: rc, the sanitizer's summary, Catch2's summary, seconds, name.
tool=$1 idx=${2%%$'\t'*} name=${2#*$'\t'}
log="$CASE_DIR/$tool.$idx.log"
spec=${name//,/\\,}   # Catch2 v2 test specs: commas separate alternatives unless escaped
start=$SECONDS
TINYCNN_CUDA_DIRECT_ALLOC=1 timeout "${TINYCNN_SANITIZE_CASE_TIMEOUT:-300}" compute-sanitizer \
  --tool "$tool" --error-exitcode 99 "$BIN/tests/tinycnn_cuda_tests" "$spec" >"$log" 2>&1
rc=$?
printf '%s %3s rc=%s | %s | %s | %ss | %s\n' "$tool" "$idx" "$rc" \
  "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)" \
  "$(grep -E '^(All tests passed|test cases:)' "$log" | tail -1)" "$((SECONDS - start))" "$name" \
  >"$CASE_DIR/$tool.$idx.result"
